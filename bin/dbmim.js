#!/usr/bin/env node
// Entry point of the `dbmim` command: the compiled CLI lives in dist/ (built by `npm install` / `npm ci`).
import { main } from '../dist/cli/main.js';

main(process.argv).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
