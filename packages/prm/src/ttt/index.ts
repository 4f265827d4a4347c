export * from './monitor.js';
export * from './ttt.js';
