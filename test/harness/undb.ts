// The Undb-shaped database writer lives in src/ (the demo uses it too).
export * from '../../src/ops/demo/undbDatabase.js';
