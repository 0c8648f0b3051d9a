"""Models of the PyTorch engine: what a `teacher` / `student` spec of the experiment file builds.

- `{module: 'models.py', export, args?}`: the file is imported by path (it is the user's code, not a
  package) and `export(**args)` must return an `nn.Module`.
- `{torchvision: name, args?}`: `torchvision.models.<name>(**args)` without downloaded weights;
  torchvision is imported only here, only when asked for.
- `{model: 'x.pt'}`: a TorchScript file (`torch.jit.load`), e.g. a teacher exported elsewhere.
- `weights: 'x.pt'` next to any of them: a state_dict file loaded into the model.
- `{derive: {...}}`: the teacher's architecture made smaller, for `nn.Sequential`-style teachers
  (the idea of src/engine/models/derive*.ts: swap, width, depth; fresh weights, layer names kept).

Construction runs under `torch.manual_seed(seed)` inside a forked RNG, so the same seed gives the
same initial weights without disturbing the caller's random stream. Errors are `ConfigError`s at the
spec's JSON path.
"""
from __future__ import annotations

import copy
import difflib
import importlib.util
import inspect
import math
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .errors import ConfigError

__all__ = ['build_model', 'layer_names', 'describe_spec', 'layer_table', 'derive_student', 'load_weights']


def _closest(name: str, names: Sequence[str], n: int = 5) -> List[str]:
    close = difflib.get_close_matches(name, list(names), n=n, cutoff=0.4)
    return close or list(names)[:n]


def _quote(names: Sequence[str]) -> str:
    return ', '.join(f'"{n}"' for n in names) if names else '(none)'


def describe_spec(spec: dict) -> str:
    """A short name of a model spec for logs and run.json: 'models.py#resnet8',
    'torchvision:mobilenet_v2', 'teacher.pt', 'derived(width=0.5)'."""
    if not isinstance(spec, dict):
        return str(spec)
    if 'module' in spec:
        return f"{spec['module']}#{spec.get('export', '?')}"
    if 'torchvision' in spec:
        return f"torchvision:{spec['torchvision']}"
    if 'model' in spec:
        return str(spec['model'])
    if 'derive' in spec:
        d = spec.get('derive') or {}
        keys = [f'{k}={d[k]}' for k in ('width', 'depth', 'round') if k in d]
        return f"derived({', '.join(keys)})" if keys else 'derived'
    return '?'


def layer_names(model: nn.Module) -> List[str]:
    """named_modules() paths, the root ('') excluded: the names pairs and taps use."""
    return [n for n, _ in model.named_modules() if n]


# ---------------------------------------------------------------------------------------------
# Building


def build_model(spec: dict, base_dir: str, *, path: list, input_shape: tuple, num_classes: int,
                teacher_spec: Optional[dict] = None, seed: int = 0) -> nn.Module:
    """The model a spec describes, on the CPU, in train mode. `path` is the spec's JSON path
    (['student'], ['teacher'], ['scheme', 'assistants', 0] …) for errors."""
    path = list(path)
    if not isinstance(spec, dict):
        raise ConfigError(path, 'expected a model: {"module", "export"}, {"torchvision"}, {"model": "*.pt"} or {"derive"}')
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if 'derive' in spec:
            teacher_spec = teacher_spec or spec.get('from')
            if not isinstance(teacher_spec, dict):
                raise ConfigError(path + ['derive'], 'a derived student needs a teacher to derive from: give "teacher"')
            if 'derive' in teacher_spec:
                raise ConfigError(path + ['derive'], 'the teacher is itself derived; derive from a teacher with an architecture')
            teacher = _build_plain({k: v for k, v in teacher_spec.items() if k != 'weights'}, base_dir,
                                   ['teacher'], num_classes)
            model, _info = derive_student(teacher, spec.get('derive') or {}, input_shape, seed=seed, path=path + ['derive'])
        else:
            model = _build_plain(spec, base_dir, path, num_classes)
    if spec.get('weights') is not None and 'derive' not in spec:
        load_weights(model, spec['weights'], base_dir, path + ['weights'])
    model.train()
    return model


def _build_plain(spec: dict, base_dir: str, path: list, num_classes: int) -> nn.Module:
    if 'module' in spec:
        return _from_module(spec, base_dir, path)
    if 'torchvision' in spec:
        return _from_torchvision(spec, path, num_classes)
    if 'model' in spec:
        return _from_torchscript(spec['model'], base_dir, path + ['model'])
    raise ConfigError(path, 'expected a model: {"module": "models.py", "export": …}, {"torchvision": …}, '
                            '{"model": "*.pt"} (TorchScript) or {"derive": …}')


def _load_user_module(file: str, path: list):
    """Imports a Python file by path under a private module name (its folder on sys.path while it
    imports, so that it can import its neighbours)."""
    name = f'distill_user_{abs(hash(file)) & 0xFFFFFFFF:08x}'
    if name in sys.modules and getattr(sys.modules[name], '__file__', None) == file:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(path, f'{file}: cannot import this file as a Python module (expected a .py file)')
    mod = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(file)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise ConfigError(path, f'{file}:{e.lineno}: syntax error: {e.msg}') from None
    except Exception as e:  # noqa: BLE001 — the user's module failed while importing
        sys.modules.pop(name, None)
        raise ConfigError(path, f'{file}: importing it failed: {type(e).__name__}: {e}') from None
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    return mod


def _from_module(spec: dict, base_dir: str, path: list) -> nn.Module:
    if not isinstance(spec.get('module'), str):
        raise ConfigError(path + ['module'], 'expected the path of a Python file, e.g. "models.py"')
    file = os.path.abspath(os.path.join(base_dir, spec['module']))
    if not os.path.isfile(file):
        raise ConfigError(path + ['module'], f'{file}: file not found')
    mod = _load_user_module(file, path + ['module'])
    export = spec.get('export')
    callables = sorted(n for n, v in vars(mod).items() if callable(v) and not n.startswith('_')
                       and getattr(v, '__module__', None) == mod.__name__)
    if not isinstance(export, str) or not callable(getattr(mod, export, None)):
        what = f'has no callable "{export}"' if isinstance(export, str) else 'needs "export": the name of its model factory'
        hint = f'; closest: {_quote(_closest(export, callables))}' if isinstance(export, str) and callables else ''
        raise ConfigError(path + ['export'], f'{file} {what}{hint} (callables defined there: {_quote(callables)})')
    args = spec.get('args') or {}
    if not isinstance(args, dict):
        raise ConfigError(path + ['args'], f'expected an object of keyword arguments, found {type(args).__name__}')
    factory = getattr(mod, export)
    try:
        model = factory(**args)
    except TypeError as e:
        try:
            sig = str(inspect.signature(factory))
        except (TypeError, ValueError):
            sig = '(…)'
        raise ConfigError(path + ['args'], f'{file}: {export}{sig} refused the arguments {sorted(args)}: {e}') from None
    except Exception as e:  # noqa: BLE001
        raise ConfigError(path + ['export'], f'{file}: {export}(**args) failed: {type(e).__name__}: {e}') from None
    if not isinstance(model, nn.Module):
        raise ConfigError(path + ['export'], f'{file}: {export}(**args) returned {type(model).__name__}, expected a torch.nn.Module')
    return model


def _from_torchvision(spec: dict, path: list, num_classes: int) -> nn.Module:
    name = spec.get('torchvision')
    try:
        import torchvision.models as tvm  # optional dependency, imported only when asked for
    except ImportError as e:
        raise ConfigError(path + ['torchvision'], f'torchvision is not installed in the engine\'s Python ({e}); '
                                                  'install it (pip install torchvision) or use {"module": …}') from None
    if hasattr(tvm, 'list_models'):
        known = sorted(tvm.list_models())
    else:
        known = sorted(n for n, v in vars(tvm).items() if callable(v) and n[:1].islower() and not n.startswith('_'))
    if not isinstance(name, str) or name not in known:
        raise ConfigError(path + ['torchvision'], f'torchvision has no model {name!r}; closest: {_quote(_closest(str(name), known))}')
    args = dict(spec.get('args') or {})
    fn = tvm.get_model if hasattr(tvm, 'get_model') else getattr(tvm, name)
    try:
        params = inspect.signature(getattr(tvm, name, fn)).parameters
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):
        takes_kwargs = True
    # The experiment's classes, unless the file says otherwise (torchvision's default is ImageNet's 1000).
    if 'num_classes' not in args and takes_kwargs:
        args['num_classes'] = num_classes
    args.setdefault('weights', None)
    try:
        model = tvm.get_model(name, **args) if hasattr(tvm, 'get_model') else fn(**args)
    except (TypeError, ValueError) as e:
        raise ConfigError(path + ['args'], f'torchvision.models.{name} refused the arguments {sorted(args)}: {e}') from None
    return model


def _from_torchscript(file_rel, base_dir: str, path: list) -> nn.Module:
    if not isinstance(file_rel, str):
        raise ConfigError(path, 'expected the path of a TorchScript file (*.pt)')
    file = os.path.abspath(os.path.join(base_dir, file_rel))
    if file.endswith('.json'):
        raise ConfigError(path, f'{file}: a TF.js model.json runs on the TF.js engine; the torch engine reads a TorchScript file '
                                '(torch.jit.save) or a {"module", "export"} factory')
    if not os.path.isfile(file):
        raise ConfigError(path, f'{file}: file not found')
    try:
        return torch.jit.load(file, map_location='cpu')
    except Exception as e:  # noqa: BLE001
        raise ConfigError(path, f'{file}: not a TorchScript file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}); '
                                'save one with torch.jit.save(torch.jit.script(model), path) — a state_dict goes in "weights" '
                                'next to a {"module", "export"}') from None


def load_weights(model: nn.Module, file_rel: str, base_dir: str, path: list) -> None:
    """Loads a state_dict file (torch.save(model.state_dict())) into `model`; a mismatch is an error
    that lists the missing, unexpected and wrongly shaped keys."""
    file = os.path.abspath(os.path.join(base_dir, file_rel))
    if not os.path.isfile(file):
        raise ConfigError(path, f'{file}: file not found')
    try:
        obj = torch.load(file, map_location='cpu')
    except Exception as e:  # noqa: BLE001
        raise ConfigError(path, f'{file}: cannot read it with torch.load ({type(e).__name__}: {e}); expected a state_dict '
                                'saved with torch.save(model.state_dict(), path)') from None
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and 'state_dict' in obj and isinstance(obj['state_dict'], dict):
        obj = obj['state_dict']  # a checkpoint dict of the common {epoch, state_dict, …} shape
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(path, f'{file}: expected a state_dict (a dict of tensors), found {type(obj).__name__}')
    own = model.state_dict()
    missing = [k for k in own if k not in obj]
    unexpected = [k for k in obj if k not in own]
    shapes = [f'{k} {tuple(obj[k].shape)} ≠ {tuple(own[k].shape)}' for k in own if k in obj and obj[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f'missing {len(missing)}: {", ".join(missing[:8])}{" …" if len(missing) > 8 else ""}')
        if unexpected:
            parts.append(f'unexpected {len(unexpected)}: {", ".join(unexpected[:8])}{" …" if len(unexpected) > 8 else ""}')
        if shapes:
            parts.append(f'wrong shape (file ≠ model) {len(shapes)}: {"; ".join(shapes[:8])}')
        hint = ''
        if unexpected and all(k.startswith('module.') for k in unexpected):
            hint = ' (the keys start with "module.": saved from a DataParallel wrapper; save model.module.state_dict())'
        raise ConfigError(path, f'{file}: the state_dict does not fit the model — {"; ".join(parts)}{hint}')
    model.load_state_dict(obj)


# ---------------------------------------------------------------------------------------------
# Layer table


def _shape_of(out) -> Optional[list]:
    if isinstance(out, torch.Tensor):
        return [None] + list(out.shape[1:])
    if isinstance(out, (tuple, list)) and out and all(isinstance(o, torch.Tensor) for o in out):
        return [[None] + list(o.shape[1:]) for o in out]
    return None


def layer_table(model: nn.Module, input_shape: tuple, device=None) -> List[dict]:
    """One row per named module (root excluded), in named_modules() order: name, type, output shape
    of one sample ([None, C, H, W]: the batch axis as null, like the TF.js engine's table), params
    (own and children's), trainableParams. From one forward pass of a zero sample in eval mode."""
    shapes: Dict[str, object] = {}

    def hook_of(name: str):
        def hook(_m, _inp, out) -> None:
            shapes.setdefault(name, _shape_of(out))
        return hook
    forward_with_hooks(model, input_shape, {name: hook_of(name) for name, _ in model.named_modules() if name}, device=device)
    rows = []
    for name, m in model.named_modules():
        if not name:
            continue
        ps = list(m.parameters())
        rows.append({'name': name, 'type': type(m).__name__ if not isinstance(m, torch.jit.ScriptModule) else m.original_name,
                     'outputShape': shapes.get(name), 'params': sum(p.numel() for p in ps),
                     'trainableParams': sum(p.numel() for p in ps if p.requires_grad)})
    return rows


# ---------------------------------------------------------------------------------------------
# Derived students (nn.Sequential-style teachers)

_PRODUCERS = (nn.Linear, nn.Conv2d)
_PASS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid,
         nn.Mish, nn.Softmax, nn.LogSoftmax, nn.Softplus, nn.SELU, nn.CELU, nn.Identity, nn.Dropout, nn.Dropout2d,
         nn.AlphaDropout, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Upsample, nn.ZeroPad2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_KNOWN = 'Linear, Conv2d, BatchNorm1d/2d, Flatten, activations, dropout, pooling'


def _is_plain_sequential(m: nn.Module) -> bool:
    return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward


def _leaves(model: nn.Module, path: list) -> List[Tuple[str, nn.Module]]:
    """The layers of a Sequential-style model in execution order (nested Sequentials walked);
    refuses anything whose order of execution is not its order of declaration."""
    if isinstance(model, torch.jit.ScriptModule):
        raise ConfigError(path, 'derive needs the teacher\'s Python architecture; this teacher is a TorchScript file, whose layers '
                                'cannot be rebuilt at another size: give the teacher as {"module", "export"} (with "weights"), '
                                'or write the student yourself')
    if not _is_plain_sequential(model):
        raise ConfigError(path, f'derive needs a teacher that is an nn.Sequential (nested Sequentials allowed) of {_KNOWN}; '
                                f'this teacher is a {type(model).__name__} with its own forward(), whose data flow derive cannot '
                                'read (skip connections, reshapes): write the student yourself as {"module", "export"}')
    out = []

    def walk(prefix: str, m: nn.Module) -> None:
        for name, child in m.named_children():
            full = f'{prefix}.{name}' if prefix else name
            if _is_plain_sequential(child):
                walk(full, child)
            elif isinstance(child, _PRODUCERS + _NORMS + _PASS + (nn.Flatten,)):
                out.append((full, child))
            else:
                raise ConfigError(path, f'derive needs a teacher made of {_KNOWN} (nested nn.Sequential allowed); its layer '
                                        f'"{full}" is a {type(child).__name__}, which derive cannot resize: write the student '
                                        'yourself as {"module", "export"}')
    walk('', model)
    return out


def _trace_shapes(model: nn.Module, input_shape: tuple, names: Sequence[str]) -> Dict[str, Tuple[tuple, tuple]]:
    """(input shape, output shape) of one sample at each named module."""
    res: Dict[str, Tuple[tuple, tuple]] = {}

    def hook_of(name: str):
        def hook(_m, i, o) -> None:  # returns None: the output is kept
            res.setdefault(name, (tuple(i[0].shape[1:]), tuple(o.shape[1:])))
        return hook
    forward_with_hooks(model, input_shape, {n: hook_of(n) for n in names})
    return res

def forward_with_hooks(model: nn.Module, input_shape: tuple, hooks: Dict[str, object], *, batch: int = 1, device=None) -> None:
    """One forward pass of a zero batch `[batch, *input_shape]` in eval mode without gradients, with
    `hooks[name]` (a forward hook) on each named module — a module that takes no Python hooks (a
    ScriptModule's submodule) is left out — then the hooks removed and the training mode restored.
    The one way the engine looks inside a model: layer tables, traced shapes, FLOPs, call order."""
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device('cpu'))
    modules = dict(model.named_modules())
    handles = []
    for name, hook in hooks.items():
        try:
            handles.append(modules[name].register_forward_hook(hook))
        except RuntimeError:  # a ScriptModule's submodules take no Python hooks
            pass
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((batch,) + tuple(input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was)



def scale_width(size: int, width: float, rnd: int) -> int:
    """deriveWidth.ts scaleWidth: rounded to a multiple of `round`, never below it, never wider than
    the teacher when width ≤ 1."""
    n = max(rnd, rnd * int(math.floor(size * width / rnd + 0.5)))
    return min(n, size) if width <= 1 else n


def _set_child(root: nn.Module, name: str, new: nn.Module) -> None:
    parent = root
    parts = name.split('.')
    for p in parts[:-1]:
        parent = parent._modules[p]
    parent._modules[parts[-1]] = new


def derive_student(teacher: nn.Module, cfg: dict, input_shape: tuple, *, seed: int = 0,
                   path: Sequence = ('student', 'derive')) -> Tuple[nn.Module, dict]:
    """The teacher's architecture made smaller, with fresh weights and the teacher's layer names.
    Steps as derive.ts: swap (Conv2d → depthwise-separable), width (hidden Linear/Conv2d × width,
    rounded; the output layer, the layers in `keep` and the model input keep theirs), depth (drop
    blocks whose output shape equals their input shape: `drop` by name, `depth` as the kept
    fraction). Returns (model, info) with info {widths, swapped, dropped, kept, warnings, changes}."""
    path = list(path)
    if not isinstance(cfg, dict):
        raise ConfigError(path, 'expected an object {width?, round?, depth?, drop?, swap?, keep?}')
    width = cfg.get('width', 1)
    rnd = cfg.get('round', 1)
    depth = cfg.get('depth', 1)
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0:
        raise ConfigError(path + ['width'], f'expected a number > 0, found {width!r}')
    if not isinstance(rnd, int) or isinstance(rnd, bool) or rnd < 1:
        raise ConfigError(path + ['round'], f'expected an integer ≥ 1, found {rnd!r}')
    if not isinstance(depth, (int, float)) or isinstance(depth, bool) or not 0 < depth <= 1:
        raise ConfigError(path + ['depth'], f'expected a number in (0, 1], found {depth!r}')
    swap = (cfg.get('swap') or {}).get('Conv2D') or (cfg.get('swap') or {}).get('Conv2d')
    if swap not in (None, 'SeparableConv2D'):
        raise ConfigError(path + ['swap'], f'expected {{"Conv2D": "SeparableConv2D"}}, found {cfg.get("swap")!r}')

    leaves = _leaves(teacher, path)
    names = [n for n, _ in leaves]
    all_names = layer_names(teacher)
    for field in ('drop', 'keep'):
        for i, n in enumerate(cfg.get(field) or []):
            if n not in all_names:
                raise ConfigError(path + [field, i], f'the teacher has no layer "{n}"; closest: {_quote(_closest(str(n), all_names))}')
    shapes = _trace_shapes(teacher, input_shape, names)
    info = {'widths': [], 'swapped': [], 'dropped': [], 'kept': [], 'warnings': [], 'changes': []}

    producers = [i for i, (_, m) in enumerate(leaves) if isinstance(m, _PRODUCERS)]
    if not producers:
        raise ConfigError(path, 'the teacher has no Linear or Conv2d layer: nothing to derive')
    out_idx = producers[-1]
    keep_idx = set()
    for n in cfg.get('keep') or []:
        # a named layer (or block): its width is that of the last producer at or before it
        last = max(i for i, (ln, _) in enumerate(leaves) if ln == n or ln.startswith(n + '.'))
        before = [p for p in producers if p <= last]
        if before:
            keep_idx.add(before[-1])
            info['kept'].append({'layers': [leaves[before[-1]][0]], 'reason': f'"{n}" is in "keep"'})

    student = copy.deepcopy(teacher)
    c_new = input_shape[0]  # the model input keeps its width
    for i, (name, m) in enumerate(leaves):
        in_shape, out_shape = shapes[name]
        if isinstance(m, nn.Linear):
            if len(in_shape) != 1:
                raise ConfigError(path, f'derive reads Linear layers on vectors; "{name}" gets {list(in_shape)}')
            out = m.out_features if i == out_idx or i in keep_idx else _scaled(m.out_features, width, rnd, name, path)
            new = nn.Linear(c_new, out, bias=m.bias is not None)
            c_new = out
        elif isinstance(m, nn.Conv2d):
            depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
            if m.groups > 1 and not depthwise:
                raise ConfigError(path, f'derive cannot resize the grouped convolution "{name}" (groups={m.groups}); '
                                        'only plain and depthwise Conv2d layers')
            kw = dict(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation,
                      padding_mode=m.padding_mode)
            if depthwise:
                new = nn.Conv2d(c_new, c_new, groups=c_new, bias=m.bias is not None, **kw)
            else:
                out = m.out_channels if i == out_idx or i in keep_idx else _scaled(m.out_channels, width, rnd, name, path)
                if swap and tuple(m.kernel_size) != (1, 1):
                    new = nn.Sequential()
                    new.add_module('depthwise', nn.Conv2d(c_new, c_new, groups=c_new, bias=False, **kw))
                    new.add_module('pointwise', nn.Conv2d(c_new, out, 1, bias=m.bias is not None))
                    info['swapped'].append({'layer': name, 'from': 'Conv2d', 'to': 'depthwise-separable'})
                    info['changes'].append(f'{name}: Conv2d → depthwise + pointwise Conv2d')
                else:
                    new = nn.Conv2d(c_new, out, bias=m.bias is not None, **kw)
                c_new = out
        elif isinstance(m, _NORMS):
            new = type(m)(c_new, eps=m.eps, momentum=m.momentum, affine=m.affine, track_running_stats=m.track_running_stats)
        elif isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise ConfigError(path, f'derive reads Flatten(1, -1) only; "{name}" is Flatten({m.start_dim}, {m.end_dim})')
            spatial = int(math.prod(in_shape[1:])) if len(in_shape) > 1 else 1
            c_new = c_new * spatial
            continue
        else:
            continue  # weightless and width-keeping: the same module (deep-copied)
        if isinstance(m, _PRODUCERS):
            old = m.out_features if isinstance(m, nn.Linear) else m.out_channels
            now = new.out_features if isinstance(new, nn.Linear) else (new.pointwise.out_channels if isinstance(new, nn.Sequential)
                                                                         else new.out_channels)
            if now != old:
                info['widths'].append({'layer': name, 'from': old, 'to': now})
                info['changes'].append(f'{name}: {old} → {now} {"units" if isinstance(m, nn.Linear) else "filters"}')
        _set_child(student, name, new)

    _reduce_depth(student, cfg, input_shape, out_name=leaves[out_idx][0], depth=depth, path=path, info=info)

    # Fresh weights everywhere (the deep copy carried the teacher's), seeded, in module order.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in student.modules():
            if hasattr(m, 'reset_parameters') and m is not student:
                m.reset_parameters()
    try:
        with torch.no_grad():
            t_out = teacher.eval()(torch.zeros((1,) + tuple(input_shape)))
            s_out = student.eval()(torch.zeros((1,) + tuple(input_shape)))
    except RuntimeError as e:
        raise ConfigError(path, f'the derived model does not run: {str(e).splitlines()[0]}') from None
    finally:
        teacher.train()
        student.train()
    if tuple(t_out.shape) != tuple(s_out.shape):
        raise ConfigError(path, f"the derived model's output has shape {list(s_out.shape[1:])}, the teacher's {list(t_out.shape[1:])}")
    if not info['changes']:
        info['changes'].append('no change: a fresh copy of the teacher architecture')
    student.derive_info = info
    return student, info


def _scaled(size: int, width: float, rnd: int, name: str, path: list) -> int:
    if math.floor(size * width + 0.5) < 1:
        raise ConfigError(path + ['width'], f'width {width} leaves layer "{name}" ({size} units) with {size * width:.2g} units, '
                                            f'which rounds to zero; the width must be at least {0.5 / size:.2g} for this layer')
    return scale_width(size, width, rnd)


def _reduce_depth(student: nn.Module, cfg: dict, input_shape: tuple, *, out_name: str, depth: float, path: list,
                  info: dict) -> None:
    """Depth step on the top-level children: a block starts at a weighted child (Linear, Conv2d, a
    nested Sequential) or a shape-changing weightless one; BatchNorm and shape-keeping weightless
    children join the block before. A block whose output shape equals its input shape, that does
    not hold the output layer, can go (`drop` by a layer's name, `depth` by fraction: the last block
    of the longest run of droppable blocks first, as deriveDepth.ts)."""
    drop = cfg.get('drop') or []
    if not drop and depth >= 1:
        return
    children = list(student.named_children())
    shp = _trace_shapes(student, input_shape, [n for n, _ in children])
    blocks: List[dict] = []
    for name, m in children:
        weighted = isinstance(m, _PRODUCERS) or isinstance(m, nn.Sequential)
        i_s, o_s = shp[name]
        joins = not weighted and (isinstance(m, _NORMS) or i_s == o_s) and blocks
        if joins:
            blocks[-1]['layers'].append(name)
            blocks[-1]['out'] = o_s
        else:
            blocks.append({'layers': [name], 'in': i_s, 'out': o_s, 'weighted': weighted})
    for b in blocks:
        b['hasOutput'] = any(out_name == l or out_name.startswith(l + '.') for l in b['layers'])

    def holds(b, n):
        return any(n == l or n.startswith(l + '.') for l in b['layers'])

    def droppable(b):
        return b['weighted'] and not b['hasOutput'] and b['in'] == b['out']

    fmt = lambda s: '[' + ', '.join(map(str, s)) + ']'  # noqa: E731
    chosen: List[dict] = []
    for i, n in enumerate(drop):
        b = next(x for x in blocks if holds(x, n))
        if b['hasOutput']:
            raise ConfigError(path + ['drop', i], f'dropping "{n}" removes its block [{", ".join(b["layers"])}], which holds the output '
                                                  f'layer "{out_name}": the output layer is always kept')
        if b['in'] != b['out']:
            ok = [f'"{x["layers"][0]}"' for x in blocks if droppable(x)]
            raise ConfigError(path + ['drop', i], f'dropping "{n}" removes its block [{", ".join(b["layers"])}], which turns '
                                                  f'{fmt(b["in"])} into {fmt(b["out"])}: only blocks that keep the shape can be '
                                                  f'dropped' + (f' (droppable here: {", ".join(ok)})' if ok else ' (this model has none)'))
        if b not in chosen:
            chosen.append(b)
    if depth < 1:
        cands = [b for b in blocks if droppable(b) and b not in chosen]
        if not cands:
            raise ConfigError(path + ['depth'], f'depth {depth}: the teacher has no block that keeps its shape'
                              + (' left after "drop"' if chosen else '') + ', so none can be dropped (blocks: '
                              + '; '.join(f'[{", ".join(b["layers"])}] {fmt(b["in"])} → {fmt(b["out"])}' for b in blocks) + ')')
        n = len(cands)
        kept = int(math.floor(n * depth + 0.5))
        asked = n * (1 - depth)
        to_drop = n - kept
        if to_drop < asked - 1e-9:
            info['warnings'].append(f'depth {depth} keeps round({n} × {depth}) = {kept} of the {n} droppable blocks, so it drops '
                                    f'{to_drop} where it asks for {asked:.3g}')
        left = list(cands)
        pos = {id(b): k for k, b in enumerate(blocks)}
        for _ in range(to_drop):
            runs: List[List[dict]] = []
            for b in left:
                run = next((r for r in runs if pos[id(r[-1])] + 1 == pos[id(b)]), None)
                if run:
                    run.append(b)
                else:
                    runs.append([b])
            longest = runs[0]
            for r in runs:
                if len(r) >= len(longest):
                    longest = r
            victim = longest[-1]
            chosen.append(victim)
            left.remove(victim)
    for b in chosen:
        for l in b['layers']:
            del student._modules[l]
        info['dropped'].append({'layers': b['layers'], 'shape': list(b['out'])})
        info['changes'].append(f'dropped [{", ".join(b["layers"])}] ({fmt(b["out"])} → {fmt(b["out"])})')
