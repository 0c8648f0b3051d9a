/**
 * The experiment file (`*.distill.json`), as the engine sees it after parsing and validation.
 * The JSON Schema in `schema/experiment.schema.json` describes the same shape for the editor;
 * `validate.ts` turns a parsed file into this type (defaults filled in) or located errors.
 * Paths are kept as written; `resolve.ts` makes them absolute against the experiment's folder.
 */

import type { MethodNameOf } from '../methods/catalogue';

export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** The engine that trains an experiment: the embedded TF.js engine, or PyTorch in the user's Python (issue 14). */
export type EngineName = 'tfjs' | 'torch';
/** torch engine: where it trains (`cuda:N` names one GPU). */
export type TorchDevice = 'auto' | 'cpu' | 'cuda' | `cuda:${number}` | 'mps';
/** torch engine: training precision (bf16 / fp16 autocast; fp16 with a gradient scaler on CUDA). */
export type TorchPrecision = 'fp32' | 'bf16' | 'fp16';

export interface ExperimentConfig {
  /** Experiment name; names the folder under `.distill/runs/`. */
  name: string;
  /** One distilled student (and one baseline) per seed. Default `[1]`. */
  seeds: number[];
  data: DataConfig;
  /** Required, except for `scheme: self` (the student teaches itself). */
  teacher?: ModelSpec;
  /** A model.json, a module factory, or `{ "derive": … }`: built from the teacher's architecture. */
  student: StudentSpec;
  scheme: SchemeConfig;
  knowledge: KnowledgeEntry[];
  /** Hard-label cross-entropy term of the student. */
  labels: { weight: number };
  training: TrainingConfig;
  /** Also train the student from scratch (labels only) with the same budget. Default true. */
  baseline: boolean;
  /** Compute backend of the TF.js engine; `auto` = tensorflow (tfjs-node) → wasm → cpu. Default `auto`. */
  backend: BackendName;
  /**
   * The engine; absent means `tfjs` (so run folders made before issue 14 read the same). Only the
   * file's own `engine` decides which model specs and fields are allowed (src/config/engineRules.ts).
   */
  engine?: EngineName;
  /** torch engine only (filled with `auto` for it by normalisation). */
  device?: TorchDevice;
  /** torch engine only (filled with `fp32` for it by normalisation). */
  precision?: TorchPrecision;
  /**
   * torch engine only (issue 15): a data-parallel run with `processes` worker processes
   * (python/distill_torch/distributed.py); `training.batchSize` is then the global batch, split
   * evenly among them. The CLI's `--processes N` overrides it.
   */
  distributed?: { processes: number };
  /** MB for a fixed teacher's tapped features cached as float16 (0 = off). Default 1024. */
  teacherCacheMB: number;
  /**
   * Size-vs-accuracy sweep (`distill sweep`): numeric field path (`student.derive.width`,
   * `knowledge[0].temperature`, …) → the values to try; every combination is one run. The key
   * `seeds` gives the seeds of every point (default: the experiment's `seeds`).
   */
  sweep?: Record<string, number[]>;
  /** Resources of each point of a sweep run on Slurm (`distill sweep --executor slurm`); `distill run` ignores it. */
  cluster?: ClusterConfig;
  /** Student search under a budget (issue 18), run by `distill sweep`; not together with `sweep`. */
  search?: SearchConfig;
}

/**
 * issue 18: a student search under a budget, NAS-style with the derive and sweep machinery. The
 * student must be `{ "derive": … }`; every combination of `space` values is a candidate derive
 * (width, depth, Conv2D → SeparableConv2D), measured (params, bytes, latency at batch 1, by the
 * engine's own figures) and kept when it fits every given `budget` bound. The fitting candidates
 * are trained by successive halving: rung r of R trains its candidates for
 * max(1, round(training.epochs / eta^(R−1−r))) epochs (the last rung the file's own budget), each
 * point an ordinary run in one sweep folder, and the best ⌈n/eta⌉ by `objective` go on to the next
 * rung (ties: fewer params, then candidate order). R = max(1, ⌈log_eta(n)⌉) unless `rungs` says.
 * The chosen student: the best of the last rung, on its Pareto front of accuracy against `against`.
 */
export interface SearchConfig {
  /** At least one bound; latency is ms per sample at batch 1, measured on this machine. */
  budget: { params?: number; bytes?: number; latencyMs?: number };
  /** Candidate values (derive fields); an absent axis keeps the file's own value. */
  space: { width?: number[]; depth?: number[]; separable?: boolean[] };
  /** Keep the best 1/eta at each rung. Default 2. */
  eta: number;
  /** Number of rungs (default from the candidates, see above). */
  rungs?: number;
  /** What ranks candidates: `valAcc` (needs `data.validation`) or `testAcc`. Default valAcc with a validation split, else testAcc. */
  objective?: 'valAcc' | 'testAcc';
  /** The size axis of the Pareto front: `params`, `bytes` or `latency`. Default: the budget's first bound. */
  against?: 'params' | 'bytes' | 'latency';
}

/** sbatch options of each task of a sweep's job array (src/cli/sweepExecutors.ts). */
export interface ClusterConfig {
  partition?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
  /** A Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS. */
  time?: string;
  memoryMB?: number;
}

export type DataSource = MnistSource | IdxSource | CsvSource | SyntheticSource | ImagesSource | Cifar10Source | Cifar100Source | NpySource | NpzSource;

/** What `data.train` may be: any source, or inputs synthesised from the teacher (issue 18, data-free). */
export type TrainSource = DataSource | TeacherSynthesizedSource;

export interface MnistSource {
  format: 'mnist';
  split: 'train' | 'test';
  /** Use only the first N samples. */
  limit?: number;
}

export interface IdxSource {
  format: 'idx';
  /** IDX image file (`*-images-idx3-ubyte`, optionally `.gz`), relative to the experiment file. */
  images: string;
  /** IDX label file (`*-labels-idx1-ubyte`, optionally `.gz`). */
  labels: string;
  limit?: number;
}

export interface CsvSource {
  format: 'csv';
  /** CSV file (optionally `.gz`), relative to the experiment file. */
  path: string;
  /** Name (with a header row) or 0-based index of the integer label column. Default: the last column. */
  labelColumn?: string | number;
  /**
   * The first line (after `skipLines`): `names` (column names), `none` (a data row), `auto` (names
   * when it has a non-numeric cell). Default `auto`. `true` / `false` are the older spellings of
   * `names` / `none`.
   */
  header?: 'auto' | 'none' | 'names' | boolean;
  /** Lines at the start of the file to ignore, before the header (e.g. 1 for sklearn's shape line). Default 0. */
  skipLines?: number;
  /** The cell separator, one character (`,`, `;`, tab `\t`, `|`, …). Default: detected from the first line read. */
  delimiter?: string;
  /** Reshape each row's features, e.g. `[8, 8, 1]`. Default: a flat vector. */
  shape?: number[];
  limit?: number;
}

export interface SyntheticSource {
  format: 'synthetic';
  /** `images`: class-dependent blobs on HxWxC images; `vectors`: Gaussian clusters. */
  kind: 'images' | 'vectors';
  samples: number;
  classes: number;
  /** `[H, W, C]` for images, `[D]` for vectors. */
  shape: number[];
  /** Generator seed: the same seed gives the same data. */
  seed: number;
  /** Noise level, 0..1 (default 0.3). */
  noise?: number;
}

// --- issue 16: image folders, CIFAR binary files, NumPy arrays ------------------------------------

/** A folder with one subfolder per class (sorted names → labels 0, 1, …), PNG and JPEG files. */
export interface ImagesSource {
  format: 'images';
  /** The folder, relative to the experiment file. */
  path: string;
  /** `[H, W]`: every image is resized to it (bilinear, half-pixel centres). Required when sizes differ. */
  size?: [number, number];
  /** 1 (greyscale, ITU-R 601 luma) or 3 (RGB; greyscale is repeated). Alpha is dropped. Default 3. */
  channels?: 1 | 3;
  limit?: number;
}

/** CIFAR-10 binary files: records of 1 label byte + 3072 pixel bytes (3 planes of 32×32). */
export interface Cifar10Source {
  format: 'cifar10';
  /** One `.bin` file, or the folder of `data_batch_1.bin`…`data_batch_5.bin` and `test_batch.bin` (then `split`). */
  path: string;
  split?: 'train' | 'test';
  limit?: number;
}

/** CIFAR-100 binary files: records of a coarse and a fine label byte + 3072 pixel bytes. */
export interface Cifar100Source {
  format: 'cifar100';
  /** `train.bin` / `test.bin`, or their folder (then `split`). */
  path: string;
  split?: 'train' | 'test';
  /** `fine` (100 classes, default) or `coarse` (20 superclasses). */
  labels?: 'fine' | 'coarse';
  limit?: number;
}

/** Two `.npy` files: the inputs `[N, ...]` and the integer labels `[N]`. */
export interface NpySource {
  format: 'npy';
  inputs: string;
  labels: string;
  limit?: number;
}

/** One `.npz` file (a zip of `.npy` arrays) with named inputs and labels arrays. */
export interface NpzSource {
  format: 'npz';
  path: string;
  /** Name of the inputs array in the archive. Default `x`. */
  inputs?: string;
  /** Name of the labels array. Default `y`. */
  labels?: string;
  limit?: number;
}

// --- issue 18: data-free distillation (DeepInversion) -----------------------------------------------

/**
 * `data.train` synthesised from the teacher (DeepInversion, Yin et al. 2020): batches of inputs are
 * optimised (Adam, from Gaussian noise) so that the statistics each BatchNormalization layer of the
 * teacher sees (batch mean / variance of its input, per channel) match its running statistics and
 * the teacher classifies each input as its target class (label i mod classes, balanced), with
 * total-variation and L2 priors. Loss of one batch:
 *   ce(teacher(x), y) + bnWeight·Σ_l (‖μ_l(x) − μ̂_l‖₂ + ‖σ²_l(x) − σ̂²_l‖₂) + tvWeight·TV + l2Weight·mean_i ‖x_i‖₂
 *   (+ competition.weight·(1 − JS(p_teacher, p_student)) with the adaptive competition term).
 * μ_l, σ²_l: per channel over every other axis (biased variance). TV = mean_i Σ_{h,w} (x_i[h+1,w] −
 * x_i[h,w])² + (x_i[h,w+1] − x_i[h,w])² (squared neighbour differences, summed per input, batch mean).
 * Both engines compute it so (src/engine/synthesis/deepInversion.ts, python/distill_torch/synthesis.py).
 * The synthesised inputs live in the teacher's input space (after normalisation); with
 * `data.normalize: "scale"` they are clamped to [0, 1] after every step. Shape and classes come
 * from the teacher (its input shape, its output width). The teacher must be ready (no `train`) and
 * have a BatchNormalization layer; the scheme must be `offline`. The test split stays real.
 * The run's job `synthesize` makes them (run folder `synthesized/`, src/runs/synthesized.ts); then
 * each `distill-s<seed>` (and `scratch-s<seed>` without `reference`) trains on them.
 */
export interface TeacherSynthesizedSource {
  format: 'teacher-synthesized';
  /** Inputs to synthesise (balanced over the classes). */
  samples: number;
  /** Inputs optimised together (the BN statistics are batch statistics). Default 128. */
  batchSize: number;
  /** Optimisation steps per batch. Default 200. */
  iterations: number;
  /** Adam's learning rate on the inputs. Default 0.1. */
  learningRate: number;
  /** Weight of the BN-statistics term. Default 1. */
  bnWeight: number;
  /** Weight of the total-variation prior. Default 0.0001. */
  tvWeight: number;
  /** Weight of the L2 prior. Default 0.00001. */
  l2Weight: number;
  /** Seed of the starting noise. Default 0. */
  seed: number;
  /**
   * DeepInversion's random jitter: each iteration the batch is rolled (circular shift) by a random
   * (dy, dx) in [−jitter, jitter] before the teacher sees it (engine/synthesis/jitter.ts). Pixels,
   * images only, below the image size. Default 0 (none: runs made before the field are unchanged).
   */
  jitter?: number;
  /** With the jitter: each iteration the teacher's view is also mirrored left–right with probability 1/2. Default false. */
  flip?: boolean;
  /**
   * Adaptive DeepInversion's competition term: before each batch after the first, a copy of the
   * student (the first seed's initialisation) is distilled (KD at `temperature`, Adam 1e-3) for
   * `studentSteps` steps on the batches made so far, and the batch is pushed to where teacher and
   * student disagree: weight·(1 − JS(softmax(z_t/T), softmax(z_s/T))). That copy is discarded.
   */
  competition?: { weight: number; temperature: number; studentSteps: number };
  /**
   * Real training data to compare with: when given, the run also distils the same student on it
   * (`real-s<seed>`, not exported) and trains the scratch baseline on it; report.json's `dataFree`
   * puts the three side by side.
   */
  reference?: DataSource;
}
// --- end issue 18 (data-free) ---------------------------------------------------------------------

/** Training-time augmentation (`data.augment`). */
export interface AugmentConfig {
  /** Jitter: shift by up to this many pixels along each axis (zero fill). */
  shift?: number;
  /** Random crop: pad by this many pixels (zeros) on every side, then crop back to the size at a random place. */
  crop?: number;
  /** Mirror each image left–right with probability 1/2. */
  flip?: boolean;
  jobs?: 'all' | 'teacher';
}
// --- end issue 16 ---------------------------------------------------------------------------------

export interface DataConfig {
  /** `teacher-synthesized` only here (never as `test`, which stays real data). */
  train: TrainSource;
  test: DataSource;
  /** Held out from `train` (after shuffling by `shuffleSeed`). */
  validation?: { fraction: number };
  /** `scale`: divide by the source maximum (255 for images); `standardize`: zero mean / unit variance
   * per feature, fitted on the training split; `none`. Default `scale`. */
  normalize: 'scale' | 'standardize' | 'none';
  /** Seed of the train/validation split. Default 0. */
  shuffleSeed: number;
  /** Random augmentation of training images; a fixed teacher then runs on every batch (no cache). */
  augment?: AugmentConfig;
  /**
   * MB of decoded image-folder pixels held in memory per split (float32); a larger split streams
   * from its decoded cache on disk in batches. Default 1024.
   */
  memoryMB?: number;
}

export type ModelSpec = ModelJsonSpec | ModuleSpec | TorchvisionSpec;

export interface ModelJsonSpec {
  /** Path to a TF.js Layers `model.json` (weights next to it); with the torch engine a TorchScript file. */
  model: string;
  /** Train this model first (once per run) instead of using its weights as they are. */
  train?: TrainingConfig;
}

export interface ModuleSpec {
  /** A `.ts`/`.js` module in the workspace. */
  module: string;
  /** The exported factory's name: `(tf, args) => tf.LayersModel`. */
  export: string;
  /** Passed to the factory as its second argument (TF.js), or as keyword arguments (torch). */
  args?: Record<string, unknown>;
  /** torch engine only: a state_dict file loaded into the built model. */
  weights?: string;
  /** Train this model first (once per run), e.g. a teacher that is not pre-trained. */
  train?: TrainingConfig;
}

/** torch engine only: a `torchvision.models` builder by name. */
export interface TorchvisionSpec {
  torchvision: string;
  /** Keyword arguments of the builder. */
  args?: Record<string, unknown>;
  /** A state_dict file loaded into the built model. */
  weights?: string;
  train?: TrainingConfig;
}

/** The student: a model of its own, or one derived from the teacher's architecture (+ issue 18's quantisation). */
export type StudentSpec = (ModelSpec | DeriveSpec) & { quantize?: QuantizeConfig };

/**
 * issue 18: quantisation of the student (`student.quantize`). The quantiser (both engines, training
 * and export alike) is per-channel affine on every kernel (weights of rank ≥ 2; biases and
 * normalisation parameters stay float), as `src/engine/models/quantize.ts` documents for int8, at
 * `bits` bits: qmin = −2^(bits−1), qmax = 2^(bits−1) − 1, S_c = (max(0, max w) − min(0, min w)) /
 * (2^bits − 1) (S_c = 1 when that is 0), Z_c = clamp(round(qmin − min(0, min w)/S_c), qmin, qmax),
 * q = clamp(round(w/S_c) + Z_c, qmin, qmax), ŵ = (q − Z_c)·S_c. Rounding: half away from zero.
 *
 * - Post-training (always): the exported float student is quantised at 8 bits (`student/int8/`,
 *   report `quantized`), and also at `bits` when that is 4 (`student/int4/`, a `quantizedVariants` row). The torch engine's `quantized` row
 *   is torch's own int8 (qnnpack), so there the shared rule's int8 copy is one more row, `student/int8-ptq/`.
 * - `aware: true` (Polino et al. 2018): per seed, one more job `qat-s<seed>` distils the student
 *   with the same terms and teacher while its forward pass uses ŵ (fake quantisation; the gradient
 *   passes straight through to w). Its quantised copy is exported to `student/int<bits>-qat/` and
 *   measured beside the post-training rows (`quantizedVariants`, method `qat`).
 * - `activations: true` (with `aware`): each quantised layer's output is also fake-quantised,
 *   per tensor, 8-bit affine over [min(0, lo), max(0, hi)], lo/hi tracked as an exponential moving average
 *   (momentum 0.9) of the batch min/max in training; out-of-range values get no gradient. The
 *   ranges are saved with the quantised copy and applied when it is measured.
 */
export interface QuantizeConfig {
  /** 8 (default) or 4. */
  bits: 8 | 4;
  /** Train a quantisation-aware copy of the distilled student (`qat-s<seed>`). Default false. */
  aware: boolean;
  /** Also fake-quantise activations (only with `aware`). Default false. */
  activations: boolean;
}

/** `{ "derive": { … } }`: the student is the teacher's architecture, made smaller. */
export interface DeriveSpec {
  derive: DeriveConfig;
  /** Filled in by the validator (not written in the file): the teacher it is derived from. */
  from?: ModelSpec;
}

/**
 * How a student is derived from the teacher's architecture (fresh weights, layer names kept):
 * layer-type swaps, then the width multiplier, then depth reduction.
 */
export interface DeriveConfig {
  /** Multiplier of the units / filters of every hidden layer (the output layer is kept). Default 1. */
  width: number;
  /** Scaled widths are rounded to a multiple of this, never below it. Default 1. */
  round: number;
  /**
   * Fraction (0, 1] of the droppable blocks kept: blocks (runs of layers between single-tensor cut
   * points, e.g. a hidden Dense or a residual block) whose output shape equals their input shape.
   * Default 1 (none dropped).
   */
  depth: number;
  /** Blocks to drop by name: the block containing each named layer is removed. */
  drop?: string[];
  /** Layer-type swaps that keep shapes, by class name: `{ "Conv2D": "SeparableConv2D" }`. */
  swap?: { Conv2D?: 'SeparableConv2D' };
  /** Hidden layers whose width is kept as in the teacher (with every layer tied to them). */
  keep?: string[];
}

/**
 * Training scheme.
 * - `offline`: the teacher is fixed (pre-trained or trained first) while the student learns.
 * - `online`: deep mutual learning — the teacher (built fresh from a module) and `peers − 1`
 *   students are trained together; each peer gets CE + the mean KL to every other peer.
 * - `self`: the student teaches itself — auxiliary heads on shallower layers learn from the
 *   deepest output (KD) and features (L2), "be your own teacher"; no separate teacher is used.
 * - `born-again`: generation g+1 (the student architecture) learns from generation g; generation 0
 *   is the teacher.
 * - `ta-chain`: teacher → assistant(s) → student, each stage an offline distillation.
 */
export type SchemeConfig = OfflineScheme | OnlineScheme | SelfScheme | BornAgainScheme | TaChainScheme;

export interface OfflineScheme { kind: 'offline' }

export interface OnlineScheme {
  kind: 'online';
  /** Number of peers: the teacher plus peers − 1 students (default 2). */
  peers: number;
  /** Temperature of the peer-to-peer KL (default 1, as in deep mutual learning). */
  temperature: number;
}

export interface SelfHead {
  /** Student layer whose output feeds the auxiliary head. */
  layer: string;
}

export interface SelfScheme {
  kind: 'self';
  /** Auxiliary classifier heads on shallower layers of the student; each reads its layer's output flattened channels-last (NHWC order, not pooled) in both engines. */
  heads: SelfHead[];
  /** KD temperature from the deepest output to each head (default 3). */
  temperature: number;
  /** Weight of the KD term of each head; its CE gets 1 − alpha (default 0.3). */
  alpha: number;
  /** Weight of the feature L2 hint from the deepest features to each head's features (default 0.03). */
  beta: number;
}

export interface BornAgainScheme {
  kind: 'born-again';
  /** Student generations after the teacher (default 2). */
  generations: number;
}

export interface TaChainScheme {
  kind: 'ta-chain';
  /** Teacher assistants, largest first; each is distilled from the previous model of the chain. */
  assistants: ModelSpec[];
}

/** Weight schedule of a loss term: multiplies the weight by a factor per epoch. */
export type WeightSchedule =
  | { kind: 'constant' }
  /** Factor rises linearly from 1/epochs in epoch 1 to 1 at `epochs`, then stays 1. */
  | { kind: 'linear-warmup'; epochs: number };

/** One teacher layer ↔ one student layer. */
export interface LayerPair {
  teacher: string;
  student: string;
  /**
   * How the student's output is mapped to the teacher's shape, trained with the student and left
   * out of the exported student. `auto` (default): `dense` for vectors, `conv1x1` for feature maps
   * when the shapes differ and the method needs equal shapes; `none`: use as it is.
   */
  adapter: 'auto' | 'none' | 'dense' | 'conv1x1';
}

/** FSP pairs name two layers per network (their Gram matrix is compared). */
export interface FspPair {
  teacher: [string, string];
  student: [string, string];
}

interface TermBase {
  weight: number;
  schedule: WeightSchedule;
}

export type KnowledgeEntry =
  | ResponseKnowledge
  | DkdKnowledge
  | MultiTeacherKnowledge
  | DistKnowledge
  | CtkdKnowledge
  | CrdKnowledge
  | ReviewKdKnowledge
  | FeatureKnowledge
  | RelationKnowledge
  | FspKnowledge
  | AdversarialKnowledge;

export interface ResponseKnowledge extends TermBase {
  kind: 'response';
  /** `kd`: Hinton et al. 2015, T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)). */
  method: 'kd';
  temperature: number;
  /** Logit standardisation (Sun et al. 2024): z-score each sample's logits before /T (default false). */
  standardize?: boolean;
}

export interface DkdKnowledge extends TermBase {
  kind: 'response';
  /** Decoupled KD (Zhao et al. 2022): alpha·TCKD + beta·NCKD, times T². */
  method: 'dkd';
  temperature: number;
  alpha: number;
  beta: number;
  /** Epochs of linear warm-up of the DKD term (default 0; the paper uses 20 of 240). */
  warmup: number;
  /** Logit standardisation (Sun et al. 2024), default false. */
  standardize?: boolean;
}

export interface MultiTeacherKnowledge extends TermBase {
  kind: 'response';
  /** KD from the weighted average of several teachers' softened outputs. */
  method: 'multi-kd';
  temperature: number;
  /** Weight of the experiment's `teacher` in the mixture (default 1). */
  teacherWeight: number;
  /** Further pre-trained teachers, each with its weight in the mixture. */
  teachers: (ModelSpec & { weight: number })[];
  /** Logit standardisation (Sun et al. 2024), default false. */
  standardize?: boolean;
}

// --- issue 17: newer methods (dist, ctkd, crd, reviewkd) ---

export interface DistKnowledge extends TermBase {
  kind: 'response';
  /** DIST (Huang et al. 2022): T²·(beta·inter-class + gamma·intra-class Pearson relation losses). */
  method: 'dist';
  temperature: number;
  beta: number;
  gamma: number;
  standardize?: boolean;
}

export interface CtkdKnowledge extends TermBase {
  kind: 'response';
  /** CTKD (Li et al. 2023): KD at a learned temperature τ = minTemperature + temperatureRange·sigmoid(θ), θ trained adversarially. */
  method: 'ctkd';
  minTemperature: number;
  temperatureRange: number;
  /** Starting temperature (default: the paper's θ₀ = 1, τ₀ ≈ minTemperature + 0.731·temperatureRange). */
  initialTemperature?: number;
  /** Reversal weight λ reached after `reversalEpochs` (cosine curriculum from 0). */
  maxReversal: number;
  reversalEpochs: number;
}

export interface CrdKnowledge extends TermBase {
  kind: 'relation';
  /** CRD (Tian et al. 2020): NCE between embedding heads, with K negatives from memory banks of the training split. */
  method: 'crd';
  /** Exactly one teacher layer ↔ student layer. */
  pairs: LayerPair[];
  /** D: width of the embedding heads and of the banks' rows (default 128). */
  embedding: number;
  /** K: negatives per sample, from other classes (default 1024; the paper: 16384). */
  negatives: number;
  /** τ of exp(⟨·,·⟩/τ) (default 0.07). */
  temperature: number;
  /** Momentum of the banks' update (default 0.5). */
  momentum: number;
  /** Refuse banks (2·N·D float32) above this size (default 256). */
  maxMemoryMB: number;
}

export interface ReviewKdKnowledge extends TermBase {
  kind: 'feature';
  /** ReviewKD (Chen et al. 2021): attention-based fusion of the student's stages, hierarchical context loss against the teacher's. */
  method: 'reviewkd';
  /** The stages, from the shallowest to the deepest: teacher stage ↔ student stage. */
  pairs: LayerPair[];
  /** Channels of the fusion module's intermediate maps (default 64). */
  midChannels: number;
}

// --- end issue 17 ---

// --- issue 18: adversarial distillation ---

/**
 * Adversarial distillation (Xu et al. 2018; Wang et al. 2018, KDGAN): a discriminator D — an MLP
 * (`hidden` widths, LeakyReLU 0.2, one output logit), trained with the student, never exported —
 * learns to tell the teacher's inputs-to-D from the student's, and the student learns to fool it.
 * What D sees: softmax(z/temperature) of the logits (no `pairs`), or one layer pair's features
 * (flattened; the student's through an adapter to the teacher's shape, as fitnet's), with the
 * one-hot labels appended when `conditional`.
 *   student term (name `adversarial`):  −mean_b log σ(D(s_b))                    (non-saturating)
 *   discriminator:  −mean_b [log σ(D(t_b)) + log(1 − σ(D(s_b)))], on the step's detached outputs,
 *   one Adam step (`learningRate`, β 0.5/0.999) after each student step; its accuracy is the share
 *   of the 2B outputs on the right side of 0. Both are logged as step `params`
 *   `adversarial.discLoss` / `adversarial.discAcc` and epoch `extras` (epoch means); an epoch with a
 *   mean accuracy ≥ 0.99 is flagged (report warning `discriminator-wins`).
 * Data-parallel torch runs (`distributed`, `--processes N`): D starts from rank 0's weights and its
 * gradient is averaged over the global batch every step, so D is the same on every process.
 */
export interface AdversarialKnowledge extends TermBase {
  kind: 'adversarial';
  /** The one adversarial method (default). */
  method: 'adversarial';
  /** At most one pair; absent or empty: D sees the softened logits. */
  pairs?: LayerPair[];
  /** Temperature of the softmax of the logits D sees. Default 1. */
  temperature: number;
  /** Hidden widths of D. Default [64]. */
  hidden: number[];
  /** Adam learning rate of D. Default 0.0002. */
  learningRate: number;
  /** Condition D on the labels (one-hot appended to its input). Default false. */
  conditional: boolean;
}

// --- end issue 18 (adversarial) ---

export interface FeatureKnowledge extends TermBase {
  kind: 'feature';
  /** `fitnet` hints (MSE after an adapter), `at` attention transfer, `nst` neuron-selectivity transfer. */
  method: Exclude<MethodNameOf<'feature'>, 'reviewkd'>;
  pairs: LayerPair[];
  /** fitnet: train only the hint (student up to its paired layer + adapters) for this many epochs first. */
  hintEpochs?: number;
  /** at: the exponent p of Σ_c |A_c|^p (default 2). */
  p?: number;
}

export interface RelationKnowledge extends TermBase {
  kind: 'relation';
  /** RKD distance / angle, similarity-preserving, probabilistic knowledge transfer, correlation congruence. */
  method: Exclude<MethodNameOf<'relation', false>, 'crd'>;
  pairs: LayerPair[];
}

export interface FspKnowledge extends TermBase {
  kind: 'relation';
  /** Flow of solution procedure: Gram matrix between two layers of each network. */
  method: 'fsp';
  pairs: FspPair[];
}

export interface OptimizerConfig {
  kind: 'adam' | 'sgd' | 'momentum' | 'rmsprop';
  learningRate: number;
  /** For `momentum` (default 0.9). */
  momentum?: number;
  /** Learning-rate schedule (default constant); see src/engine/training/schedule.ts. */
  schedule?: 'constant' | 'cosine' | 'step';
  /** Linear warm-up over the first N epochs (default 0). */
  warmupEpochs?: number;
  /** Cosine: the final learning rate (default 0). */
  minLearningRate?: number;
  /** Step: the period in epochs. */
  stepEpochs?: number;
  /** Step: the factor per period (default 0.1). */
  gamma?: number;
}

export interface TrainingConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  /** Log a step line every N steps (default 20). */
  logEvery: number;
  /** Stop each epoch after N batches (quick runs). */
  stepsPerEpoch?: number;
  /**
   * Mid-epoch checkpoints: after `steps` steps or `minutes` minutes since the last checkpoint,
   * whichever comes first (every epoch end has one anyway). Default `{ minutes: 1 }`.
   */
  checkpointEvery?: { steps?: number; minutes?: number };
}

/** A position in the experiment file (1-based line and column, 0-based offset). */
export interface SourceLocation {
  line: number;
  column: number;
  offset: number;
  length: number;
}

/** One problem in an experiment file. `path` is the JSON path of the offending value. */
export interface ConfigError {
  file: string;
  path: (string | number)[];
  location: SourceLocation;
  /** e.g. `expected a number > 0, found "four"` */
  message: string;
  severity: 'error' | 'warning';
}
