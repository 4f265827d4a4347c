// The config language every trainer, learner and command declares its keys in: a schema gives
// each key one name, one default, one validator and one doc line (schema.ts); resolving merges a
// file and `--set` overrides over the defaults and validates (load.ts); docs.ts prints the keys.
export * from './schema.js';
export {
  ConfigError, choose, configDiff, merge, parseJsonText, parseSet, readConfigFile, resolveConfig, schemaOf, valueAt, type ConfigSources, type Given,
  type SchemaSource,
} from './load.js';
export { formatSchemaDocs } from './docs.js';
