import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderExample, renderReference } from '../../src/config/example.js';
import { parseConfig } from '../../src/config/load.js';
import { DEFAULTS, DOCS } from '../../src/config/schema.js';

describe('the documented configuration', () => {
  it('config/relay.example.yaml is the one generated from the schema (npm run gen:docs)', () => {
    expect(readFileSync('config/relay.example.yaml', 'utf8')).toBe(renderExample());
  });

  it('the README reference is the one generated from the schema (npm run gen:docs)', () => {
    expect(readFileSync('README.md', 'utf8')).toContain(renderReference());
  });

  it('the example is a valid configuration that yields the defaults', () => {
    const config = parseConfig(readFileSync('config/relay.example.yaml', 'utf8'), 'example', {
      DATABASE_URL: 'postgres://h/db',
      CRM_SECRET: 's',
    });
    expect({ ...config, database: { ...config.database, url: '' }, state: { ...config.state, url: '' }, subscriptions: [] }).toEqual(DEFAULTS);
    expect(config.subscriptions).toHaveLength(1);
  });

  it('documents every key', () => {
    const keys: string[] = [];
    const walk = (node: object, path: string[]) => {
      for (const [key, value] of Object.entries(node)) {
        keys.push([...path, key].join('.'));
        if (value && typeof value === 'object' && !Array.isArray(value)) walk(value, [...path, key]);
      }
    };
    walk(DEFAULTS, []);
    expect(keys.filter((key) => !DOCS[key])).toEqual([]);
  });
});
