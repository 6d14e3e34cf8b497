#!/bin/sh
# `make test` on a bare machine: the Spark export test (tests/functional/test_export_spark.py) runs pyspark
# in local mode, and Spark runs on a Java runtime (Spark 3.5 on Java 17, as AWS Glue 5.0 runs it). When no
# java is found, install Debian's headless JRE with apt if apt is usable without a question (root, or sudo
# without a password), as ensure_chromium.sh does for the browser test; otherwise stop before the long run
# with the one command that fixes it.
# PUE_JAVA names another java; PUE_SKIP_SPARK=1 (outside CI) skips the Spark tests, and so this check.
set -u
package="openjdk-17-jre-headless"
if [ -n "${PUE_JAVA:-}" ]; then
  java="$PUE_JAVA"
elif [ -n "${JAVA_HOME:-}" ] && [ -x "${JAVA_HOME}/bin/java" ]; then
  java="$JAVA_HOME/bin/java"
else
  java="$(command -v java 2>/dev/null || echo /usr/bin/java)"
fi
[ -x "$java" ] && exit 0
if [ "${PUE_SKIP_SPARK:-}" = "1" ] && [ -z "${CI:-}" ]; then
  echo "make test: no java at $java; PUE_SKIP_SPARK=1 skips the Spark export tests" >&2
  exit 0
fi

. "${0%/*}/apt_install.sh"
apt_install "$package" "for the Spark export tests"
[ -x "$java" ] && exit 0
command -v java >/dev/null 2>&1 && exit 0

echo "make test: the Spark export tests need a Java runtime (java at $java is missing). Run:" >&2
echo "    sudo apt-get install -y $package" >&2
echo "then make test again (PUE_JAVA names another java; PUE_SKIP_SPARK=1 skips the tests outside CI)." >&2
exit 1
