import pinoModule from 'pino';

export type Logger = pinoModule.Logger;
const pino = pinoModule;

export function createLogger(options: { level?: string; destination?: number } = {}): Logger {
  return pino(
    { level: options.level ?? process.env.LOG_LEVEL ?? 'info', base: undefined },
    pino.destination({ dest: options.destination ?? 1, sync: true }),
  );
}

export const silentLogger = (): Logger => pino({ level: 'silent' });
