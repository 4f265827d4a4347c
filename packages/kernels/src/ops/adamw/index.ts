export * from './adamw.js';
