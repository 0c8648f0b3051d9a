/**
 * Numeric CSV files: feature columns + one integer label column. Optional gzip (detected by
 * content). The first `skipLines` lines are ignored. Delimiter: `delimiter`, or by default `,`
 * (`;` / tab when the first line read has no comma). The first line read is a header with
 * `header: "names"`, a data row with `"none"`, and by default (`"auto"`) a header when it has a
 * non-numeric cell.
 */
import * as path from 'node:path';
import type { CsvSource } from '../../config/types';
import { readDataFile } from './files';
import { applyLimit, Dataset, DataError, dataError, sampleSize } from './types';

function splitRow(line: string, delim: string): string[] {
  if (!line.includes('"')) return line.split(delim).map((c) => c.trim());
  // Minimal quoting: "a,b" and "" escapes.
  const cells: string[] = [];
  let cur = '';
  let inQ = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQ) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') inQ = false;
      else cur += ch;
    } else if (ch === '"') inQ = true;
    else if (ch === delim) {
      cells.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}

function parseNumber(cell: string): number {
  // Number('') is 0 and Number(' ') is 0: an empty cell is not a number here.
  return cell === '' ? NaN : Number(cell);
}

/** `header` as one of its three modes (`true` / `false` are the older spellings of `names` / `none`). */
function headerMode(h: CsvSource['header']): 'auto' | 'none' | 'names' {
  return h === true ? 'names' : h === false ? 'none' : (h ?? 'auto');
}

/**
 * scikit-learn's bundled CSV files (wine_data.csv, breast_cancer.csv, iris.csv) start with a shape
 * line, `n_samples,n_features,class names…`: true when `first` reads so for rows of `ncols` cells.
 */
function looksLikeShapeLine(first: string[], ncols: number): boolean {
  return first.length >= 2 && /^\d+$/.test(first[0]) && /^\d+$/.test(first[1]) && Number(first[1]) === ncols - 1 && first.length !== ncols;
}

export function loadCsv(src: CsvSource, baseDir: string, field: string): Dataset {
  const file = path.resolve(baseDir, src.path);
  const pathField = `${field}.path`;
  const text = readDataFile(file, pathField).toString('utf8').replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/);
  const skip = src.skipLines ?? 0;
  if (!Number.isInteger(skip) || skip < 0) {
    throw dataError(`skipLines must be a non-negative integer, found ${JSON.stringify(src.skipLines)}`, file, `${field}.skipLines`);
  }

  // Non-blank lines after the skipped ones, with their 1-based line numbers.
  const rows: { line: number; text: string }[] = [];
  for (let i = skip; i < lines.length; i++) {
    if (lines[i].trim() !== '') rows.push({ line: i + 1, text: lines[i] });
  }
  if (rows.length === 0) {
    throw skip > 0
      ? dataError(`no line left after skipLines ${skip}: the file has ${lines.length - (lines[lines.length - 1] === '' ? 1 : 0)} lines`, file, `${field}.skipLines`)
      : dataError('the CSV file is empty', file, pathField);
  }

  const first = rows[0].text;
  if (src.delimiter !== undefined && src.delimiter.length !== 1) {
    throw dataError(`delimiter must be one character, found ${JSON.stringify(src.delimiter)}`, file, `${field}.delimiter`);
  }
  const delim = src.delimiter ?? (first.includes(',') ? ',' : first.includes(';') ? ';' : first.includes('\t') ? '\t' : ',');
  const firstCells = splitRow(first, delim);
  const ncols = firstCells.length;
  if (ncols < 2) {
    throw dataError(`expected at least 2 columns (features and a label), found ${ncols} on line ${rows[0].line}` +
      (src.delimiter !== undefined ? ` with delimiter ${JSON.stringify(delim)}` : ''), file, pathField);
  }

  const mode = headerMode(src.header);
  const hasHeader = mode === 'names' || (mode === 'auto' && firstCells.some((c) => !Number.isFinite(parseNumber(c))));
  const columnNames = hasHeader ? firstCells : firstCells.map((_, i) => `column ${i}`);
  const dataRows = hasHeader ? rows.slice(1) : rows;

  // Label column.
  let labelCol: number;
  const lc = src.labelColumn;
  if (lc === undefined) labelCol = ncols - 1;
  else if (typeof lc === 'number') {
    if (!Number.isInteger(lc) || lc < 0 || lc >= ncols) {
      throw dataError(`labelColumn ${lc} is out of range: the file has ${ncols} columns (0..${ncols - 1})`, file, `${field}.labelColumn`);
    }
    labelCol = lc;
  } else {
    if (!hasHeader) {
      throw dataError(`labelColumn ${JSON.stringify(lc)} names a column, but the file has no header row`, file, `${field}.labelColumn`);
    }
    labelCol = columnNames.indexOf(lc);
    if (labelCol < 0) {
      throw dataError(
        `labelColumn ${JSON.stringify(lc)} is not a column; the header has ${columnNames.map((c) => JSON.stringify(c)).join(', ')}`,
        file,
        `${field}.labelColumn`,
      );
    }
  }

  const nfeat = ncols - 1;
  let shape = [nfeat];
  if (src.shape !== undefined) {
    if (!Array.isArray(src.shape) || src.shape.length === 0 || !src.shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw dataError(`shape must be a list of positive integers, found ${JSON.stringify(src.shape)}`, file, `${field}.shape`);
    }
    if (sampleSize(src.shape) !== nfeat) {
      throw dataError(
        `shape [${src.shape.join(', ')}] holds ${sampleSize(src.shape)} values but each row has ${nfeat} feature columns`,
        file,
        `${field}.shape`,
      );
    }
    shape = [...src.shape];
  }

  const n = applyLimit(dataRows.length, src.limit, field, file);
  if (n === 0) throw dataError('the CSV file has a header but no data rows', file, pathField);
  const x = new Float32Array(n * nfeat);
  const y = new Int32Array(n);
  let maxAbs = 0;
  let maxLabel = -1;
  // Row-level errors read `data.train.path: /x/data.csv:12: column "b" (index 1): "abc" is not a number`.
  const rowError = (line: number, what: string) => new DataError(`${pathField}: ${file}:${line}: ${what}`, file, pathField);
  const colName = (col: number) => (hasHeader ? `column ${JSON.stringify(columnNames[col])} (index ${col})` : `column ${col}`);
  for (let r = 0; r < n; r++) {
    const { line, text: rowText } = dataRows[r];
    const cells = splitRow(rowText, delim);
    if (cells.length !== ncols) {
      // A shape line read as the header: say which option skips it.
      const hint = r === 0 && hasHeader && rows[0].line === skip + 1 && looksLikeShapeLine(firstCells, cells.length)
        ? ` (line ${rows[0].line}, ${JSON.stringify(first.trim())}, looks like scikit-learn's shape line n_samples,n_features,class names: ` +
          `skip it with "skipLines": ${skip + 1})`
        : '';
      throw rowError(line, `expected ${ncols} columns, found ${cells.length}${hint}`);
    }
    let o = r * nfeat;
    for (let c = 0; c < ncols; c++) {
      const v = parseNumber(cells[c]);
      if (c === labelCol) {
        if (!Number.isInteger(v) || v < 0) {
          throw rowError(line, `${colName(c)}: label ${JSON.stringify(cells[c])} is not a non-negative integer`);
        }
        y[r] = v;
        if (v > maxLabel) maxLabel = v;
      } else {
        if (!Number.isFinite(v)) {
          throw rowError(line, `${colName(c)}: ${JSON.stringify(cells[c])} is not a number`);
        }
        x[o++] = v;
        const a = v < 0 ? -v : v;
        if (a > maxAbs) maxAbs = a;
      }
    }
  }
  return {
    name: path.basename(file),
    x,
    y,
    shape,
    size: n,
    numClasses: maxLabel + 1,
    maxValue: maxAbs > 0 ? maxAbs : 1,
  };
}
