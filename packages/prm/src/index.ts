// @repirl/prm — process reward models learned by inverse RL (rePIRL, AIRL-S), implicitly (PRIME),
// and baselines (ORM, Math-Shepherd), with PRM-guided search and step-level evaluation.
// Nothing is exported yet: this package is filled by the PRM issue (DESIGN.md §5).
export {};
