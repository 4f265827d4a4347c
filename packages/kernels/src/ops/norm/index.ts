export * from './norm.js';
