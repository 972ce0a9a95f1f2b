/** Rewrites config/relay.example.yaml and the README's configuration reference from the schema. */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderExample, renderReference } from '../src/config/example.js';

export const README_START = '<!-- config-reference:start -->';
export const README_END = '<!-- config-reference:end -->';

writeFileSync('config/relay.example.yaml', renderExample());
const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf(README_START);
const end = readme.indexOf(README_END);
if (start < 0 || end < 0) throw new Error(`README.md lacks the ${README_START} … ${README_END} markers`);
writeFileSync('README.md', `${readme.slice(0, start + README_START.length)}\n${renderReference()}\n${readme.slice(end)}`);
console.log('config/relay.example.yaml and README.md regenerated');
