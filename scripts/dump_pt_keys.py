#!/usr/bin/env python3
"""Lists the tensors of a torch.save zip checkpoint without torch: `name dtype [d0,d1,...]`.

An independent oracle for `cosyflow inspect` (Python standard library only): zipfile finds
<stem>/data.pkl, and a pickle.Unpickler subclass replaces torch's classes with stubs that record
each tensor's dtype and shape. Nested dicts are flattened with '.'-joined names; non-tensor
leaves are skipped. Prints one line per tensor in file order, then `N tensors, P parameters`.

usage: scripts/dump_pt_keys.py FILE.pt
"""
import collections
import pickle
import sys
import zipfile

STORAGE_DTYPES = {
    "FloatStorage": "f32", "HalfStorage": "f16", "BFloat16Storage": "bf16",
    "LongStorage": "i64", "IntStorage": "i32", "BoolStorage": "bool",
    "ByteStorage": "u8", "DoubleStorage": "f64",
}


class StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class Storage:
    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel = dtype, key, numel


class TensorStub:
    def __init__(self, storage, offset, shape):
        self.dtype, self.shape, self.storage, self.offset = storage.dtype, tuple(shape), storage, offset


def rebuild_tensor_v2(storage, offset, size, stride, *unused):
    return TensorStub(storage, offset, size)


def rebuild_parameter(data, *unused):
    return data


class StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) in (("builtins", "dict"), ("__builtin__", "dict")):
            return dict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        assert kind == "storage", pid
        return Storage(storage_type.dtype, key, numel)


def flatten(d, prefix, out):
    for key, value in d.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flatten(value, name, out)
        elif isinstance(value, TensorStub):
            out.append((name, value))


def main(path):
    with zipfile.ZipFile(path) as z:
        pkl = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith("/data.pkl"))
        root = StubUnpickler(z.open(pkl)).load()
    tensors = []
    flatten(root, "", tensors)
    total = 0
    for name, t in tensors:
        numel = 1
        for n in t.shape:
            numel *= n
        total += numel
        print(f"{name} {t.dtype} [{','.join(str(n) for n in t.shape)}]")
    print(f"{len(tensors)} tensors, {total} parameters")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
