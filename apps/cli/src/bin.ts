#!/usr/bin/env node
import { runWithDawnNoticesFiltered } from '@repirl/kernels/node';
import { main, opensDevice } from './main.js';

// `npm run repirl -w @repirl/cli -- …` runs this in apps/cli; paths on the command line (configs,
// --out, checkpoints) are meant relative to where the user typed it, which npm keeps in INIT_CWD.
if (process.env.npm_lifecycle_event === 'repirl' && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

// Dawn prints two notices about its own limits whenever a device is opened (from native code, to
// fd 2): a command that opens one runs as a child whose stderr drops exactly those lines
// (REPIRL_DAWN_NOTICES=show: not); the others (config, tasks, help, --dry-run) skip that second start.
const argv = process.argv.slice(2);
const filtered = opensDevice(argv) ? await runWithDawnNoticesFiltered() : null;
if (filtered !== null) process.exit(filtered);
process.exitCode = await main(argv);
