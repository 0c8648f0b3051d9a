/**
 * The catalogue of distillation losses: what each method compares, which tensors it accepts, and
 * the shape rules it enforces. The config validator checks layer pairings against it before a run
 * starts (with shapes from model inspection, batch dimension `null`), the UI shows its titles,
 * papers and formulas, and the loss functions themselves throw the same messages at run time
 * (`pairShapeError`), so a pairing rejected in the editor reads exactly like one rejected by the
 * engine.
 *
 * This is the one list of methods. Everything else derives from it: the config types
 * (src/config/types.ts), the pairing panel's method list and message validation
 * (src/protocol/webviews.ts `PAIR_METHODS`), the pairing edit's knowledge kind
 * (src/host/panels/pairEdit.ts), the probe's method list; the JSON Schema's knowledge entries
 * (schema/experiment.schema.json) are held to it by test/unit/methods.test.ts, and so is the
 * engine's registry of pair losses (src/engine/knowledge/terms.ts). Adding a method = its loss
 * file + one entry here + the engine's registry line (+ its schema entry, which the test demands).
 *
 * Pure data and string checks: no TensorFlow.js import, so webviews can bundle it.
 */

export type KnowledgeKind = 'response' | 'feature' | 'relation' | 'adversarial';

export interface MethodInfo {
  kind: KnowledgeKind;
  method: string;
  title: string;
  paper: string;
  /** ranks accepted for the student/teacher tensors: e.g. [4] for at/nst/fsp, 'any' for fitnet/relations */
  ranks: readonly number[] | 'any';
  /** whether student and teacher shapes must be equal (after the adapter) */
  sameShape: boolean;
  /** whether spatial H,W must match */
  sameSpatial: boolean;
  /** needs two layers per network (fsp) */
  layerPairs: boolean;
  formula: string;
}

export const METHOD_INFO = [
  {
    kind: 'response', method: 'kd', title: 'Knowledge distillation (soft targets)',
    paper: 'Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", NIPS DL Workshop 2015 (arXiv:1503.02531)',
    ranks: [2], sameShape: true, sameSpatial: false, layerPairs: false,
    formula: 'T²·mean_b KL(softmax(z_t/T) ‖ softmax(z_s/T))',
  },
  {
    kind: 'response', method: 'dkd', title: 'Decoupled knowledge distillation',
    paper: 'Zhao, Cui, Song, Qiu & Liang, "Decoupled Knowledge Distillation", CVPR 2022',
    ranks: [2], sameShape: true, sameSpatial: false, layerPairs: false,
    formula: 'T²·mean_b [α·KL(b_t ‖ b_s) + β·KL(p̂_t ‖ p̂_s)], b = [p_target, 1 − p_target], p̂ = softmax over the non-target logits /T',
  },
  {
    kind: 'response', method: 'multi-kd', title: 'Multi-teacher knowledge distillation',
    paper: 'You, Xu, Xu & Tao, "Learning from Multiple Teacher Networks", KDD 2017',
    ranks: [2], sameShape: true, sameSpatial: false, layerPairs: false,
    formula: 'T²·mean_b KL(Σᵢ wᵢ·softmax(z_tᵢ/T) ‖ softmax(z_s/T)), Σᵢ wᵢ = 1',
  },
  {
    kind: 'response', method: 'dist', title: 'DIST: relations from a stronger teacher',
    paper: 'Huang, You, Wang, Qian & Xu, "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022 (arXiv:2205.10536)',
    ranks: [2], sameShape: true, sameSpatial: false, layerPairs: false,
    formula: 'T²·[β·(1 − mean_b ρ(Y_s[b,:], Y_t[b,:])) + γ·(1 − mean_k ρ(Y_s[:,k], Y_t[:,k]))], Y = softmax(z/T), ρ = Pearson correlation',
  },
  {
    kind: 'response', method: 'ctkd', title: 'Curriculum temperature KD (learned, adversarial temperature)',
    paper: 'Li, Li, Yang, Cheng, Chen, Yang & Li, "Curriculum Temperature for Knowledge Distillation", AAAI 2023 (arXiv:2211.16231)',
    ranks: [2], sameShape: true, sameSpatial: false, layerPairs: false,
    formula: 'τ²·mean_b KL(softmax(z_t/τ) ‖ softmax(z_s/τ)), τ = τ_min + τ_range·sigmoid(GRL_λ(θ)), λ = λ_max·(1 − cos(π·min(e, E)/E))/2',
  },
  {
    kind: 'feature', method: 'fitnet', title: 'FitNets hints',
    paper: 'Romero, Ballas, Kahou, Chassang, Gatta & Bengio, "FitNets: Hints for Thin Deep Nets", ICLR 2015',
    ranks: 'any', sameShape: true, sameSpatial: true, layerPairs: false,
    formula: 'mean (r(F_s) − F_t)², r = the student-side adapter',
  },
  {
    kind: 'feature', method: 'at', title: 'Attention transfer',
    paper: 'Zagoruyko & Komodakis, "Paying More Attention to Attention: Improving the Performance of CNNs via Attention Transfer", ICLR 2017',
    ranks: [4], sameShape: false, sameSpatial: true, layerPairs: false,
    formula: 'mean_{b,hw} (a_s − a_t)², a = normalise₂(Σ_c |F_c|^p) per sample (p = 2)',
  },
  {
    kind: 'feature', method: 'nst', title: 'Neuron selectivity transfer',
    paper: 'Huang & Wang, "Like What You Like: Knowledge Distill via Neuron Selectivity Transfer", arXiv:1707.01219, 2017',
    ranks: [4], sameShape: false, sameSpatial: true, layerPairs: false,
    formula: 'mean_b MMD² = mean K(t,t) + mean K(s,s) − 2·mean K(t,s), k(x,y) = (xᵀy)² over L2-normalised channel maps',
  },
  {
    kind: 'feature', method: 'reviewkd', title: 'Knowledge review (attention-based fusion + hierarchical context loss)',
    paper: 'Chen, Liu, Zhao & Jia, "Distilling Knowledge via Knowledge Review", CVPR 2021 (arXiv:2104.09044)',
    ranks: [4], sameShape: false, sameSpatial: false, layerPairs: false,
    formula: 'Σ_i HCL(ABF_i(F_s^i, ABF_{i+1}), F_t^i), HCL = [mse + Σ_{l∈{4,2,1}, l<H} 2^{−j}·mse(pool_l)] / (1 + Σ 2^{−j}); ABF mixes a stage with the fused deeper one by learned attention',
  },
  {
    kind: 'relation', method: 'rkd-distance', title: 'Relational KD: distance',
    paper: 'Park, Kim, Lu & Cho, "Relational Knowledge Distillation", CVPR 2019',
    ranks: 'any', sameShape: false, sameSpatial: false, layerPairs: false,
    formula: 'mean_{ij} Huber(d_s(i,j) − d_t(i,j)), d = ‖f_i − f_j‖₂ / mean_{i≠j} ‖f_i − f_j‖₂',
  },
  {
    kind: 'relation', method: 'rkd-angle', title: 'Relational KD: angle',
    paper: 'Park, Kim, Lu & Cho, "Relational Knowledge Distillation", CVPR 2019',
    ranks: 'any', sameShape: false, sameSpatial: false, layerPairs: false,
    formula: 'mean_{ijk} Huber(ψ_s − ψ_t), ψ(i,j,k) = ⟨e_ij, e_kj⟩, e_ij = (f_i − f_j)/‖f_i − f_j‖₂',
  },
  {
    kind: 'relation', method: 'sp', title: 'Similarity-preserving KD',
    paper: 'Tung & Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019',
    ranks: 'any', sameShape: false, sameSpatial: false, layerPairs: false,
    formula: '‖G_s − G_t‖_F² / B², G = rows-normalise₂(F·Fᵀ)',
  },
  {
    kind: 'relation', method: 'fsp', title: 'Flow of solution procedure (FSP)',
    paper: 'Yim, Joo, Bae & Kim, "A Gift from Knowledge Distillation: Fast Optimization, Network Minimization and Transfer Learning", CVPR 2017',
    ranks: [4], sameShape: false, sameSpatial: false, layerPairs: true,
    formula: 'mean (G_s − G_t)², G = F₁ᵀF₂/(H·W) ∈ ℝ^{C₁×C₂} between two layers of the same spatial size',
  },
  {
    kind: 'relation', method: 'pkt', title: 'Probabilistic knowledge transfer',
    paper: 'Passalis & Tefas, "Learning Deep Representations with Probabilistic Knowledge Transfer", ECCV 2018',
    ranks: 'any', sameShape: false, sameSpatial: false, layerPairs: false,
    formula: '(1/B) Σ_ij p_t(j|i)·log((p_t(j|i) + ε)/(p_s(j|i) + ε)), p(j|i) ∝ (cos(f_i, f_j) + 1)/2',
  },
  {
    kind: 'relation', method: 'cc', title: 'Correlation congruence',
    paper: 'Peng, Jin, Liu, Li, Wu, Liu, Zhou & Zhang, "Correlation Congruence for Knowledge Distillation", ICCV 2019',
    ranks: 'any', sameShape: false, sameSpatial: false, layerPairs: false,
    formula: 'mean_ij (C_s − C_t)², C_ij = exp(−γ‖x̂_i − x̂_j‖²), x̂ = f/‖f‖₂ (γ = 0.4)',
  },
  {
    kind: 'relation', method: 'crd', title: 'Contrastive representation distillation',
    paper: 'Tian, Krishnan & Isola, "Contrastive Representation Distillation", ICLR 2020 (arXiv:1910.10699)',
    ranks: 'any', sameShape: false, sameSpatial: false, layerPairs: false,
    formula: 'L_NCE(P_s) + L_NCE(P_t), P_s(b,k) = exp(⟨M_t[k], e_s(b)⟩/τ)/Z, L_NCE = −mean_b[log h(P⁺) + Σ_K log(1 − h(P⁻))], h(P) = P/(P + K/N), e = normalise₂(head(f)), K negatives from memory banks',
  },
  // issue 18: adversarial distillation (engine: src/engine/knowledge/adversarial.ts). Ranks, shapes
  // and adapters of its optional pair follow fitnet's (the student's features are mapped to the
  // teacher's shape before D sees them); without a pair D sees the softened logits.
  {
    kind: 'adversarial', method: 'adversarial', title: 'Adversarial distillation (a discriminator tells teacher from student)',
    paper: 'Xu, Hsu & Huang, "Training Shallow and Thin Networks for Acceleration via Knowledge Distillation with Conditional Adversarial Networks", ICLR 2018 Workshop (arXiv:1709.00513); Wang, Zhang, Sun & Qi, "KDGAN: Knowledge Distillation with Generative Adversarial Networks", NeurIPS 2018',
    ranks: 'any', sameShape: true, sameSpatial: true, layerPairs: false,
    formula: 'student: −mean_b log σ(D(s_b)); D: −mean_b [log σ(D(t_b)) + log(1 − σ(D(s_b)))], x = softmax(z/T) (or a pair\'s features, adapted), ⊕ one-hot y when conditional; D = MLP, LeakyReLU 0.2',
  },
] as const satisfies readonly MethodInfo[];

type Entry = (typeof METHOD_INFO)[number];
/** Every method name of the catalogue. */
export type MethodName = Entry['method'];
/** The method names of one kind (`layerPairs`: methods that take two layers per network, fsp). */
export type MethodNameOf<K extends KnowledgeKind, LayerPairs extends boolean = boolean> = Extract<Entry, { kind: K; layerPairs: LayerPairs }>['method'];

/** Methods a new layer pair can use (one teacher layer ↔ one student layer): feature and relation ones, fsp aside. */
export const PAIR_METHODS = METHOD_INFO.filter((m) => (m.kind === 'feature' || m.kind === 'relation') && !m.layerPairs).map((m) => m.method) as MethodNameOf<'feature' | 'relation', false>[];

/** A tensor shape; `null` marks an unknown dimension (the batch, when shapes come from inspection). */
export type ShapeLike = ReadonlyArray<number | null>;

export function getMethodInfo(method: string): MethodInfo | undefined {
  return (METHOD_INFO as readonly MethodInfo[]).find((m) => m.method === method);
}

/** `[8,32]`; unknown dimensions print as `?`. */
export function formatShape(shape: ShapeLike): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** `14×14` for the H,W of an NHWC shape. */
export function formatSpatial(shape: ShapeLike): string {
  return `${shape[1] ?? '?'}×${shape[2] ?? '?'}`;
}

function requireInfo(method: string): MethodInfo {
  const info = getMethodInfo(method);
  if (!info) throw new Error(`unknown knowledge method "${method}"`);
  return info;
}

/** Minimum rank of the `'any'` methods: relations flatten batch-first tensors to [B, D]. */
function rankOk(info: MethodInfo, rank: number): boolean {
  if (info.ranks === 'any') return rank >= (info.kind === 'relation' ? 2 : 1);
  return info.ranks.includes(rank);
}

function expectedRank(info: MethodInfo): string {
  if (info.kind === 'response') return 'logits of rank 2 [B,K]';
  if (info.ranks === 'any') return info.kind === 'relation' ? 'features of rank ≥ 2 [B,…]' : 'features of rank ≥ 1 [B,…]';
  if (info.ranks.length === 1 && info.ranks[0] === 4) return 'feature maps of rank 4 [B,H,W,C]';
  return `tensors of rank ${info.ranks.join(' or ')}`;
}

/**
 * Why one tensor cannot be fed to `method` (rank only), or null:
 * `at: expected feature maps of rank 4 [B,H,W,C], found rank 2 [8,32]`.
 */
export function rankError(method: string, shape: ShapeLike): string | null {
  const info = requireInfo(method);
  if (rankOk(info, shape.length)) return null;
  return `${method}: expected ${expectedRank(info)}, found rank ${shape.length} ${formatShape(shape)}`;
}

function differs(a: number | null | undefined, b: number | null | undefined): boolean {
  return typeof a === 'number' && typeof b === 'number' && a !== b;
}

/**
 * Why a student/teacher pair of shapes cannot be fed to `method`, or null when it can. Checks, in
 * order: the ranks, the batch size, equal shapes (`sameShape`) and equal H,W (`sameSpatial`, rank 4).
 * `teacherName` names the teacher in the message (`teacher 2` for multi-teacher KD).
 */
export function pairShapeError(method: string, student: ShapeLike, teacher: ShapeLike, teacherName = 'teacher'): string | null {
  const info = requireInfo(method);
  const rank = rankError(method, student) ?? rankError(method, teacher);
  if (rank) return rank;
  if (differs(student[0], teacher[0])) {
    return `${method}: batch sizes differ: student ${student[0]}, ${teacherName} ${teacher[0]}`;
  }
  const shapeDiffers = student.length !== teacher.length || student.some((d, i) => differs(d, teacher[i]));
  if (info.sameShape && shapeDiffers) {
    const hint = info.kind === 'feature' || info.kind === 'adversarial' ? ' (the student\'s adapter must map its features to the teacher\'s shape)' : '';
    return `${method}: shapes differ: student ${formatShape(student)}, ${teacherName} ${formatShape(teacher)}${hint}`;
  }
  if (info.sameSpatial && student.length === 4 && teacher.length === 4
      && (differs(student[1], teacher[1]) || differs(student[2], teacher[2]))) {
    return `${method}: spatial sizes differ: student ${formatSpatial(student)}, ${teacherName} ${formatSpatial(teacher)}`;
  }
  return null;
}

/** Throws `pairShapeError` as an Error. */
export function assertPairShapes(method: string, student: ShapeLike, teacher: ShapeLike, teacherName = 'teacher'): void {
  const message = pairShapeError(method, student, teacher, teacherName);
  if (message) throw new Error(message);
}

/** Throws `rankError` as an Error. */
export function assertRank(method: string, shape: ShapeLike): void {
  const message = rankError(method, shape);
  if (message) throw new Error(message);
}
