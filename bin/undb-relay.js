#!/usr/bin/env node
// Runs the compiled CLI; `npm install` builds it (the `prepare` script).
import { main } from '../dist/ops/cli.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
