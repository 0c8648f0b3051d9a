/**
 * The experiment file (`*.distill.json`), as the engine sees it after parsing and validation.
 * The JSON Schema in `schema/experiment.schema.json` describes the same shape for the editor;
 * `validate.ts` turns a parsed file into this type (defaults filled in) or located errors.
 * Paths are kept as written; `resolve.ts` makes them absolute against the experiment's folder.
 */

export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface ExperimentConfig {
  /** Experiment name; names the folder under `.distill/runs/`. */
  name: string;
  /** One distilled student (and one baseline) per seed. Default `[1]`. */
  seeds: number[];
  data: DataConfig;
  teacher: ModelSpec;
  student: ModelSpec;
  scheme: SchemeConfig;
  knowledge: KnowledgeEntry[];
  /** Hard-label cross-entropy term of the student. */
  labels: { weight: number };
  training: TrainingConfig;
  /** Also train the student from scratch (labels only) with the same budget. Default true. */
  baseline: boolean;
  /** Compute backend; `auto` = tensorflow (tfjs-node) → wasm → cpu. Default `auto`. */
  backend: BackendName;
}

export type DataSource = MnistSource | IdxSource | CsvSource | SyntheticSource;

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
  /** Whether the first row is a header. Default: detected (non-numeric first row). */
  header?: boolean;
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

export interface DataConfig {
  train: DataSource;
  test: DataSource;
  /** Held out from `train` (after shuffling by `shuffleSeed`). */
  validation?: { fraction: number };
  /** `scale`: divide by the source maximum (255 for images); `standardize`: zero mean / unit variance
   * per feature, fitted on the training split; `none`. Default `scale`. */
  normalize: 'scale' | 'standardize' | 'none';
  /** Seed of the train/validation split. Default 0. */
  shuffleSeed: number;
}

export type ModelSpec = ModelJsonSpec | ModuleSpec;

export interface ModelJsonSpec {
  /** Path to a TF.js Layers `model.json` (weights next to it). */
  model: string;
  /** Train this model first (once per run) instead of using its weights as they are. */
  train?: TrainingConfig;
}

export interface ModuleSpec {
  /** A `.ts`/`.js` module in the workspace. */
  module: string;
  /** The exported factory's name: `(tf, args) => tf.LayersModel`. */
  export: string;
  /** Passed to the factory as its second argument. */
  args?: Record<string, unknown>;
  /** Train this model first (once per run), e.g. a teacher that is not pre-trained. */
  train?: TrainingConfig;
}

export interface SchemeConfig {
  /** `offline`: the teacher is fixed while the student learns. */
  kind: 'offline';
}

export type KnowledgeEntry = ResponseKnowledge;

export interface ResponseKnowledge {
  kind: 'response';
  /** `kd`: Hinton et al. 2015, T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)). */
  method: 'kd';
  temperature: number;
  weight: number;
}

export interface OptimizerConfig {
  kind: 'adam' | 'sgd' | 'momentum' | 'rmsprop';
  learningRate: number;
  /** For `momentum` (default 0.9). */
  momentum?: number;
}

export interface TrainingConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  /** Log a step line every N steps (default 20). */
  logEvery: number;
  /** Stop each epoch after N batches (quick runs). */
  stepsPerEpoch?: number;
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
