/**
 * Reads the YAML configuration: `${VAR}` / `${VAR:-default}` from the environment, defaults for every
 * missing key, and validation that reports every problem at once, each with its path (and line).
 */
import { existsSync, readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { parseSubscription } from '../subscriptions/parse.js';
import { CHOICES, DEFAULTS, IDENTIFIERS, MINIMUMS, type RelayConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export const DEFAULT_CONFIG_PATH = 'config/relay.yaml';

/** The file `--config`, else $UNDB_RELAY_CONFIG, else config/relay.yaml when it exists. */
export function configPath(flag: string | undefined, env = process.env): string | undefined {
  if (flag) return flag;
  if (env.UNDB_RELAY_CONFIG) return env.UNDB_RELAY_CONFIG;
  return existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined;
}

export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): RelayConfig {
  if (!file) return parseConfig('database:\n  url: ${DATABASE_URL:-}\n', '(defaults)', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const problems: string[] = [];
  const interpolated = interpolate(text, env, problems);
  const lineCounter = new LineCounter();
  const document = parseDocument(interpolated, { lineCounter });
  for (const error of document.errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    problems.push(`line ${line}, column ${col}: ${error.message.split('\n')[0]}`);
  }
  if (document.errors.length) throw new ConfigError(file, problems);
  const raw = (document.toJS() ?? {}) as unknown;
  const lineOf = (path: Array<string | number>) => {
    const node = document.getIn(path, true) as { range?: [number] } | undefined;
    return node?.range ? ` (line ${lineCounter.linePos(node.range[0]).line})` : '';
  };
  const config = merge(DEFAULTS, raw, [], problems, lineOf) as RelayConfig;
  if (!config.state.url) config.state.url = config.database.url;
  // Each YAML subscription's shape is checked here, so that one bad entry is reported with the rest.
  config.subscriptions.forEach((raw, index) => {
    const parsed = parseSubscription(raw, 'yaml', { secrets: config.signing.secrets }, `#${index + 1}`);
    if (!parsed.ok) for (const text of parsed.problems) problems.push(`subscriptions[${index}]: ${text}${lineOf(['subscriptions', index])}`);
  });
  if (!config.database.url) {
    problems.push('database.url is empty: set DATABASE_URL or database.url to the Undb database (postgres://…)');
  }
  for (const path of IDENTIFIERS) {
    const value = path.split('.').reduce<any>((node, key) => node?.[key], config);
    if (typeof value === 'string' && !/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
      problems.push(`${path}: "${value}" must be a lowercase Postgres name (letters, digits, _)${lineOf(path.split('.'))}`);
    }
  }
  if (problems.length) throw new ConfigError(file, problems);
  return config;
}

function interpolate(text: string, env: NodeJS.ProcessEnv, problems: string[]): string {
  return text
    .split('\n')
    .map((line, index) => {
      // Comments are left alone: a documented `${VAR}` in a comment is not a reference.
      const comment = line.search(/(^|\s)#/);
      const code = comment >= 0 ? line.slice(0, comment) : line;
      const rest = comment >= 0 ? line.slice(comment) : '';
      const expanded = code.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
        const value = env[name];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        problems.push(`line ${index + 1}: environment variable ${name} is not set (write \${${name}:-default} for a default)`);
        return '';
      });
      return expanded + rest;
    })
    .join('\n');
}

function merge(
  defaults: unknown,
  value: unknown,
  path: string[],
  problems: string[],
  lineOf: (path: Array<string | number>) => string,
): unknown {
  const where = path.join('.');
  if (value === undefined || value === null) return structuredClone(defaults);
  if (Array.isArray(defaults)) {
    if (!Array.isArray(value)) {
      problems.push(`${where}: expected a list${lineOf(path)}`);
      return structuredClone(defaults);
    }
    // A list from ${VAR:-} that expanded to nothing reads as [null]: drop empty entries.
    return value.filter((item) => item !== null && item !== '');
  }
  if (typeof defaults === 'object' && defaults !== null) {
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${where || 'the file'}: expected a mapping of keys${lineOf(path)}`);
      return structuredClone(defaults);
    }
    const result: Record<string, unknown> = {};
    const known = defaults as Record<string, unknown>;
    for (const key of Object.keys(value)) {
      if (!(key in known)) {
        const hint = closest(key, Object.keys(known));
        problems.push(`${[...path, key].join('.')}: unknown key${hint ? ` (did you mean ${hint}?)` : ''}${lineOf([...path, key])}`);
      }
    }
    for (const [key, fallback] of Object.entries(known)) {
      result[key] = merge(fallback, (value as Record<string, unknown>)[key], [...path, key], problems, lineOf);
    }
    return result;
  }
  return scalar(defaults, value, where, problems, lineOf(path));
}

function scalar(defaults: unknown, value: unknown, where: string, problems: string[], line: string): unknown {
  if (typeof defaults === 'number') {
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    const minimum = MINIMUMS[where] ?? 0;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < minimum) {
      problems.push(`${where}: expected a whole number ≥ ${minimum}, got ${JSON.stringify(value)}${line}`);
      return defaults;
    }
    return number;
  }
  if (typeof defaults === 'boolean') {
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    problems.push(`${where}: expected true or false, got ${JSON.stringify(value)}${line}`);
    return defaults;
  }
  const text = String(value);
  const choices = CHOICES[where];
  if (choices && !choices.includes(text)) {
    problems.push(`${where}: expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}${line}`);
    return defaults;
  }
  return text;
}

function closest(key: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
