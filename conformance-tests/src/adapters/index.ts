// The adapters this repository ships, by name, as modules a child process can load too.
export const builtinAdapters: Record<string, string> = {
  memory: new URL('./memory.ts', import.meta.url).href,
  rabbitmq: new URL('./rabbitmq.ts', import.meta.url).href,
  kafka: new URL('./kafka.ts', import.meta.url).href,
  rocketmq: new URL('./rocketmq.ts', import.meta.url).href,
};
