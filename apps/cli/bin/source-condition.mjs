// A module resolution hook (registered by repirl.mjs) that adds the 'source' export condition, as
// `node --conditions=source` does: the @repirl/* packages then resolve to src/index.ts, not dist/.
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, 'source'] });
}
