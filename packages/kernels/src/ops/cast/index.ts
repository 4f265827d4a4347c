// cast: converts between f32 and f16 (and between f32 and i32, truncating toward zero). f16 needs
// the shader-f16 feature; without it the runtime refuses f16 arrays with a clear error.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export { cast } from './launcher.js';
export { castReference } from './reference.js';
