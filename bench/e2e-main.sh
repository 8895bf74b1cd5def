# Sourced by the benchmarks that run a main class of the e2e test classes.
#   e2e_main_check CLASS   exits with what to build when the jar or the class is missing
#   e2e_main WORK CLASS ARGS...   runs it from the top directory with the e2e test classpath (kept
#                                 in WORK) on $JAVA, else java
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

e2e_main_check() {
  local class="$top/e2e/target/test-classes/${1//.//}.class"
  if [ ! -f "$top/image-service/target/lamina.jar" ] || [ ! -f "$class" ]; then
    echo "$0: build first: (cd $top && mvn -q -DskipTests install)" >&2
    exit 1
  fi
}

e2e_main() {
  local work="$1" class="$2"
  shift 2
  e2e_main_check "$class"
  cd "$top" # the harness finds bin/lamina from the working directory
  # the e2e test classes and everything they use (JUnit, the snapshotter's test-jar, ...)
  mvn -B -q -o -pl e2e dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$work/classpath"
  "${JAVA:-java}" -cp "$top/e2e/target/test-classes:$(cat "$work/classpath")" "$class" "$@"
}
