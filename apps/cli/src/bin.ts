#!/usr/bin/env node
import { runWithDawnNoticesFiltered } from '@repirl/kernels/node';
import { main } from './main.js';

// `npm run repirl -w @repirl/cli -- …` runs this in apps/cli; paths on the command line (configs,
// --out, checkpoints) are meant relative to where the user typed it, which npm keeps in INIT_CWD.
if (process.env.npm_lifecycle_event === 'repirl' && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

// Dawn prints two notices about its own limits on every run (from native code, to fd 2): the
// program runs as a child whose stderr drops exactly those lines (REPIRL_DAWN_NOTICES=show: not).
const filtered = await runWithDawnNoticesFiltered();
if (filtered !== null) process.exit(filtered);
process.exitCode = await main(process.argv.slice(2));
