"""The code that runs inside a student's sandboxed grading kernel.

`guard` starts with the kernel (exit refusal, tamper log); `agent` answers the grading
process's calls, with values as plain data (`codec`), framed on a Unix socket (`wire`),
gradients carried across by `autograd`. The grading process uses the codec, the wire and
the autograd bridge too (`course_admin.remote_client`).

Everything here imports the standard library, numpy and this package only (checked by
tests/test_kernel_package.py): it must load fast in every kernel and must not depend on
the grading process's code. torch, transformers, datasets, IPython and course_utils are
used only when the kernel has already imported them (`codec.library`).
"""
