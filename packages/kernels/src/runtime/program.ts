// A kernel is a small program object (the tfjs WebGPU design): it declares its storage bindings,
// its uniforms and its workgroup size, and carries the WGSL of its body. Shapes travel as uniforms,
// so one compiled pipeline serves every shape; `variant` names the specialisation (transposes,
// block sizes, subgroup use) and is part of the pipeline-cache key.

export type ElementType = 'f32' | 'f16' | 'i32' | 'u32';
export type StorageType = ElementType | 'vec4<f32>' | 'vec2<f32>' | 'vec4<f16>' | 'atomic<u32>' | 'atomic<i32>';
export type UniformType = 'u32' | 'i32' | 'f32';

export interface BindingDecl {
  readonly name: string;
  readonly type: StorageType;
  /** 'read' binds as read-only storage; 'read_write' as writable storage. */
  readonly access: 'read' | 'read_write';
}

export interface UniformDecl {
  readonly name: string;
  readonly type: UniformType;
}

export type Feature = 'shader-f16' | 'subgroups';

export interface KernelProgram {
  /** Family name shown in every error and profile line, e.g. "matmul". */
  readonly name: string;
  /** Specialisation key (everything that changes the WGSL), e.g. "blocked:tA0:tB1". */
  readonly variant: string;
  readonly bindings: readonly BindingDecl[];
  readonly uniforms: readonly UniformDecl[];
  readonly workgroupSize: readonly [number, number?, number?];
  readonly features?: readonly Feature[];
  /**
   * WGSL after the generated prelude. The prelude declares the bindings by name, `params` (the
   * uniforms), and WG_X/WG_Y/WG_Z; the code must define
   * `@compute @workgroup_size(WG_X, WG_Y, WG_Z) fn main(...)`.
   */
  readonly code: string;
}

/**
 * The inverse of Runtime.grid(), which folds a 1-D workgroup count into 2-D above the
 * per-dimension limit: the linear workgroup index, and the linear invocation index for a
 * workgroup of WG_X invocations. In every shader's prelude.
 */
const GRID_WGSL = `fn grid_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }
fn grid_invocation(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 { return grid_workgroup(wid, nwg) * WG_X + lid; }`;

export function programKey(program: KernelProgram): string {
  return `${program.name}|${program.variant}`;
}

/** The full WGSL source of a program: enables, uniform struct, bindings, constants, then the body. */
export function makeShader(program: KernelProgram): string {
  const lines: string[] = [];
  if (program.features?.includes('shader-f16')) lines.push('enable f16;');
  if (program.features?.includes('subgroups')) lines.push('enable subgroups;');
  // A uniform struct may not be empty; kernels without uniforms still get one padding member.
  const members = program.uniforms.length > 0 ? program.uniforms : [{ name: '_unused', type: 'u32' as const }];
  lines.push('struct Params {');
  for (const u of members) lines.push(`  ${u.name}: ${u.type},`);
  lines.push('}');
  program.bindings.forEach((b, i) => {
    const access = b.access === 'read' ? 'read' : 'read_write';
    lines.push(`@group(0) @binding(${i}) var<storage, ${access}> ${b.name}: array<${b.type}>;`);
  });
  lines.push(`@group(0) @binding(${program.bindings.length}) var<uniform> params: Params;`);
  const [x, y = 1, z = 1] = program.workgroupSize;
  lines.push(`const WG_X: u32 = ${x}u;`, `const WG_Y: u32 = ${y}u;`, `const WG_Z: u32 = ${z}u;`);
  lines.push(GRID_WGSL);
  lines.push(program.code);
  return lines.join('\n');
}

/** Packs uniform values in declaration order (every member is 4 bytes, so no padding is needed). */
export function packUniforms(program: KernelProgram, values: Readonly<Record<string, number>>): ArrayBuffer {
  const count = Math.max(1, program.uniforms.length);
  const data = new ArrayBuffer(Math.ceil((count * 4) / 16) * 16);
  const view = new DataView(data);
  program.uniforms.forEach((u, i) => {
    const v = values[u.name];
    if (v === undefined || typeof v !== 'number' || Number.isNaN(v) && u.type !== 'f32') {
      throw new Error(`[${program.name}] uniform "${u.name}" is missing or not a number`);
    }
    if (u.type === 'f32') view.setFloat32(i * 4, v, true);
    else if (u.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new Error(`[${program.name}] uniform "${u.name}" must be an unsigned 32-bit integer, got ${v}`);
      }
      view.setUint32(i * 4, v, true);
    } else {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
        throw new Error(`[${program.name}] uniform "${u.name}" must be a signed 32-bit integer, got ${v}`);
      }
      view.setInt32(i * 4, v, true);
    }
  });
  for (const name of Object.keys(values)) {
    if (!program.uniforms.some((u) => u.name === name)) {
      throw new Error(`[${program.name}] unknown uniform "${name}" (declared: ${program.uniforms.map((u) => u.name).join(', ')})`);
    }
  }
  return data;
}
