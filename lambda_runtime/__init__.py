"""The Lambda python runtime, as far as this project needs it on a workstation (no Docker).

- `interpreter`: find the CPython whose version the functions' `Runtime` names (python3.12), for compiling the
  layer and for running the functions;
- `bootstrap`: run inside that interpreter, isolated, with only the code asset, the layer and the runtime's boto3
  importable: import the handler the way the runtime does, build a context, invoke, report;
- `emulator`: the host side: read a function's handler, memory, timeout and environment from the synthesised
  template and run it through the bootstrap.

Used by the Lambda-faithful tests (tests/infra/test_lambda_runtime.py), `make layer` and bench/lambda_bench.py.
"""
