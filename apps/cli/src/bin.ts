#!/usr/bin/env node
import { main } from './main.js';

// `npm run repirl -w @repirl/cli -- …` runs this in apps/cli; paths on the command line (configs,
// --out, checkpoints) are meant relative to where the user typed it, which npm keeps in INIT_CWD.
if (process.env.npm_lifecycle_event === 'repirl' && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

process.exitCode = await main(process.argv.slice(2));
