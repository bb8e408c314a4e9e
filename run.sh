#!/usr/bin/env bash
# README's two commands, each doing all the set-up itself on a fresh machine:
#
#   ./run.sh demo [--dataset digits|fashion_mnist] [--out DIR] [--overwrite]
#       the NACHOS pipeline end to end (keras-nachos demo)
#   ./run.sh test [pytest arguments]
#       the test suite (python -m pytest tests -q, one process per core)
#
# Set-up: a virtual environment in .venv (created once, reused; set
# KERAS_NACHOS_VENV to put it elsewhere, PYTHON to choose the interpreter,
# 3.10 or newer), the package with its test and deploy extras (LiteRT,
# TFLite Micro, tensorflow-model-optimization) installed in it (again
# when setup.cfg or pyproject.toml change), and, when run as root on Debian
# without it, Debian's Fashion-MNIST (dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")"

VENV=${KERAS_NACHOS_VENV:-.venv}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}  # TensorFlow's start-up chatter
PYTHON=${PYTHON:-python3}
FASHION_MNIST=/usr/share/datasets/fashion-mnist

say() { echo "run.sh: $*" >&2; }

as_root_install() {
  # Installs Debian packages when root with apt-get; returns 1 otherwise.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

setup() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "no $PYTHON found: install Python 3.10 or newer (or set PYTHON=...)"
    exit 2
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    say "$PYTHON is $("$PYTHON" -V 2>&1): keras_nachos needs Python 3.10 or newer (set PYTHON=...)"
    exit 2
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      # Debian's Python keeps venv in a package of its own.
      version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      as_root_install "python$version-venv" || as_root_install python3-venv || {
        say "$PYTHON cannot create a virtual environment: install python3-venv"
        exit 2
      }
      "$PYTHON" -m venv "$VENV"
    fi
  fi
  stamp="$VENV/.keras_nachos_installed"
  if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing keras_nachos and its test and deploy extras into $VENV (a few minutes the first time)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test,deploy]"
    touch "$stamp"
  fi
  if [ ! -d "$FASHION_MNIST" ] && [ -z "${KERAS_NACHOS_FASHION_MNIST_DIR:-}" ]; then
    if as_root_install dataset-fashion-mnist; then
      say "installed Debian's dataset-fashion-mnist"
    else
      say "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist as root);" \
          "the digits demo and the tests that do not need it still run"
    fi
  fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  demo)
    setup
    exec "$VENV/bin/keras-nachos" demo "$@"
    ;;
  test)
    setup
    # One pytest process per core (at most 4: each holds TensorFlow and its
    # own copy of the session fixtures), a test file's tests in one process
    # so its module fixtures are made once. KERAS_NACHOS_TEST_PROCESSES=0
    # runs everything in this process.
    # Test paths given (e.g. tests/deploy or a_test.py::test_x): only those.
    where=tests
    for argument in "$@"; do
      case $argument in -*) ;; *) if [ -e "${argument%%::*}" ]; then where=; fi ;; esac
    done
    processes=${KERAS_NACHOS_TEST_PROCESSES:-$(nproc 2>/dev/null || echo 1)}
    if [ "$processes" -gt 4 ]; then processes=4; fi
    if [ "$processes" -gt 1 ]; then
      exec "$VENV/bin/python" -m pytest $where -q -n "$processes" --dist loadfile "$@"
    fi
    exec "$VENV/bin/python" -m pytest $where -q "$@"
    ;;
  *)
    echo "usage: ./run.sh demo [--dataset digits|fashion_mnist] [--out DIR] [--overwrite]" >&2
    echo "       ./run.sh test [pytest arguments]" >&2
    exit 2
    ;;
esac
