#!/bin/bash
# Node setup of the lamina chart, run in lamina's DaemonSet pod:
#   install    (init container) makes lamina containerd's proxy snapshotter and, in systemd mode,
#              installs lamina on the host as a systemd service that starts before kubelet;
#              optionally points kubelet's imageServiceEndpoint at lamina
#   supervise  (systemd mode, main container) keeps the host service's kubeconfig fresh; on
#              SIGTERM, if the DaemonSet is gone (helm uninstall), reverts the node
#   serve      (pod mode, main container) runs lamina; on SIGTERM likewise
#   uninstall  reverts everything install did
# Every edit of a file that may be bind-mounted (containerd's config.toml, kubelet's config) keeps
# a backup and writes with `cat >`, which keeps the file's inode, never `sed -i` or `mv`. Each
# step is idempotent: running install twice changes nothing the second time.
set -euo pipefail

HOST="${HOST:-}"                        # where the node's root is mounted ("" in tests' host dirs)
CHART_DIR="${CHART_DIR:-/etc/lamina-chart}"
LAMINA_SOURCE="${LAMINA_SOURCE:-/opt/lamina}"
MODE="${MODE:-systemd}"
VERSION="${VERSION:?VERSION is required}"
INSTALL_DIR="${INSTALL_DIR:-/opt/lamina}"
CONFIG_DIR="${CONFIG_DIR:-/etc/lamina}"
SYSTEMD_DIR="${SYSTEMD_DIR:-/etc/systemd/system}"
CONTAINERD_CONFIGURE="${CONTAINERD_CONFIGURE:-true}"
CONTAINERD_CONFIG="${CONTAINERD_CONFIG:-/etc/containerd/config.toml}"
CRI_TABLE="${CRI_TABLE:-plugins.\"io.containerd.grpc.v1.cri\".containerd}"
CONTAINERD_RESTART="${CONTAINERD_RESTART:-false}"
SNAPSHOTTER_NAME="${SNAPSHOTTER_NAME:-lamina}"
SNAPSHOTTER_SOCKET="${SNAPSHOTTER_SOCKET:-/run/lamina/snapshotter.sock}"
CRI_SOCKET="${CRI_SOCKET:-/run/lamina/lamina.sock}"
KUBELET_CONFIGURE="${KUBELET_CONFIGURE:-false}"
KUBELET_CONFIG="${KUBELET_CONFIG:-/var/lib/kubelet/config.yaml}"
KUBELET_RESTART="${KUBELET_RESTART:-false}"
METRICS="${METRICS:-true}"
NODE_NAME="${NODE_NAME:-}"
HOST_EXEC="${HOST_EXEC:-nsenter -t 1 -m -u -i -n -p --}"   # a command on the host (hostPID)
SA_DIR="${SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}"
KUBE_API="${KUBE_API:-https://${KUBERNETES_SERVICE_HOST:-kubernetes.default.svc}:${KUBERNETES_SERVICE_PORT:-443}}"
NAMESPACE="${NAMESPACE:-}"
DAEMONSET="${DAEMONSET:-}"
SOCKET_WAIT_SECONDS="${SOCKET_WAIT_SECONDS:-120}"

MANAGED="# lamina-managed"               # ends a line install added
SAVED="# lamina-saved: "                 # starts a line install commented out
BEGIN="# >>> lamina-managed"             # a block install added
END="# <<< lamina-managed"

log() { echo "lamina-node: $*" >&2; }
on_host() { $HOST_EXEC "$@"; }

# The file without what install added, with the lines it commented out put back.
strip_managed() {
  awk -v managed="$MANAGED" -v saved="$SAVED" -v begin="$BEGIN" -v end="$END" '
    $0 == begin { skip = 1; next }
    $0 == end { skip = 0; next }
    skip { next }
    substr($0, length($0) - length(managed) + 1) == managed { next }
    index($0, saved) == 1 { print substr($0, length(saved) + 1); next }
    { print }' "$1"
}

# Writes stdin over $1 with `cat >` (keeping its inode) if that changes it; says whether it did.
replace_if_changed() {
  local target="$1" tmp="$1.lamina-tmp"
  cat > "$tmp"
  if [ -f "$target" ] && cmp -s "$tmp" "$target"; then
    rm -f "$tmp"
    return 1
  fi
  cat "$tmp" > "$target"
  rm -f "$tmp"
  return 0
}

# Keeps the file as it was before lamina first touched it (or that there was none).
backup() {
  local file="$1"
  if [ -e "$file.lamina-backup" ] || [ -e "$file.lamina-absent" ]; then
    return
  fi
  if [ -e "$file" ]; then
    cat "$file" > "$file.lamina-backup"
  else
    : > "$file.lamina-absent"
  fi
}

# Undoes install's edits of $1; the backup goes once the file is as it was.
revert_file() {
  local file="$1"
  [ -e "$file" ] || { rm -f "$file.lamina-backup" "$file.lamina-absent"; return 1; }
  local changed=1
  if strip_managed "$file" | replace_if_changed "$file"; then
    changed=0
  fi
  if [ -e "$file.lamina-absent" ]; then
    # there was no file: remove it if only what install added was in it
    if ! grep -qv -e '^[[:space:]]*$' -e '^version = 2$' "$file"; then
      rm -f "$file"
      changed=0
    fi
    rm -f "$file.lamina-absent"
  elif [ -e "$file.lamina-backup" ]; then
    if cmp -s "$file" "$file.lamina-backup"; then
      rm -f "$file.lamina-backup"
    else
      log "$file differs from $file.lamina-backup beyond lamina's lines (changed since install?): both kept"
    fi
  fi
  return $changed
}

# containerd's config.toml with lamina as proxy plugin and CRI snapshotter.
containerd_config() {
  local file="$1"
  {
    if [ -s "$file" ]; then
      strip_managed "$file"
    else
      echo "version = 2"
    fi
  } | awk -v table="[$CRI_TABLE]" -v name="$SNAPSHOTTER_NAME" -v sock="$SNAPSHOTTER_SOCKET" \
      -v managed="$MANAGED" -v saved="$SAVED" -v begin="$BEGIN" -v end="$END" '
    function norm(s) { gsub(/[ \t]/, "", s); sub(/#.*$/, "", s); return s }
    /^[ \t]*\[/ {
      intable = (norm($0) == norm(table))
      print
      if (intable) { print "  snapshotter = \"" name "\"  " managed; done = 1 }
      next
    }
    intable && /^[ \t]*snapshotter[ \t]*=/ { print saved $0; next }
    { print }
    END {
      if (!done) { print begin; print table; print "  snapshotter = \"" name "\""; print end }
      print begin
      print "[proxy_plugins.\"" name "\"]"
      print "  type = \"snapshot\""
      print "  address = \"" sock "\""
      print end
    }'
}

# kubelet's config file with imageServiceEndpoint at lamina's CRI socket.
kubelet_config() {
  strip_managed "$1" | awk -v endpoint="unix://$CRI_SOCKET" -v managed="$MANAGED" -v saved="$SAVED" '
    /^imageServiceEndpoint:/ { print saved $0; print "imageServiceEndpoint: " endpoint "  " managed; done = 1; next }
    { print }
    END { if (!done) print "imageServiceEndpoint: " endpoint "  " managed }'
}

configure_containerd() {
  local file="$HOST$CONTAINERD_CONFIG"
  mkdir -p "$(dirname "$file")"
  backup "$file"
  local out
  out="$(mktemp)"
  containerd_config "$file" > "$out"
  if replace_if_changed "$file" < "$out"; then
    log "$CONTAINERD_CONFIG: lamina is proxy plugin and CRI snapshotter $SNAPSHOTTER_NAME (backup: $CONTAINERD_CONFIG.lamina-backup)"
    rm -f "$out"
    restart_if containerd "$CONTAINERD_RESTART"
  else
    rm -f "$out"
    log "$CONTAINERD_CONFIG already names lamina"
  fi
}

configure_kubelet() {
  local file="$HOST$KUBELET_CONFIG"
  [ -f "$file" ] || { log "$KUBELET_CONFIG is missing: kubelet is not configured"; return 1; }
  backup "$file"
  local out
  out="$(mktemp)"
  kubelet_config "$file" > "$out"
  if replace_if_changed "$file" < "$out"; then
    log "$KUBELET_CONFIG: imageServiceEndpoint is unix://$CRI_SOCKET"
    rm -f "$out"
    restart_if kubelet "$KUBELET_RESTART"
  else
    rm -f "$out"
  fi
}

restart_if() {
  if [ "$2" = true ]; then
    log "restarting $1"
    on_host systemctl restart "$1.service"
  else
    log "$1 reads its changed configuration at its next restart (restart not enabled)"
  fi
}

# Copies lamina from the image to INSTALL_DIR/VERSION and points INSTALL_DIR/current at it.
# Says whether anything changed.
install_files() {
  local base="$HOST$INSTALL_DIR" changed=1
  mkdir -p "$base" "$HOST$CONFIG_DIR" "$HOST$SYSTEMD_DIR"
  if [ ! -e "$base/$VERSION/.installed" ]; then
    rm -rf "$base/$VERSION.tmp"
    mkdir -p "$base/$VERSION.tmp"
    cp -a "$LAMINA_SOURCE/." "$base/$VERSION.tmp/"
    : > "$base/$VERSION.tmp/.installed"
    rm -rf "$base/$VERSION"
    mv "$base/$VERSION.tmp" "$base/$VERSION"
    changed=0
  fi
  local previous=""
  [ -L "$base/current" ] && previous="$(readlink "$base/current")"
  if [ "$previous" != "$VERSION" ]; then
    ln -sfn "$VERSION" "$base/current.tmp"
    mv -T "$base/current.tmp" "$base/current"
    changed=0
  fi
  # keep the running version and the one before it, for a rollback
  local d
  for d in "$base"/*/; do
    d="$(basename "$d")"
    [ "$d" = "$VERSION" ] || [ "$d" = "$previous" ] || [ "$d" = current ] || rm -rf "${base:?}/$d"
  done
  if replace_if_changed "$HOST$CONFIG_DIR/lamina.toml" < "$CHART_DIR/lamina.toml"; then
    changed=0
  fi
  local line
  if while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "${line//@NODE_NAME@/$NODE_NAME}"; done \
      < "$CHART_DIR/lamina.service" | replace_if_changed "$HOST$SYSTEMD_DIR/lamina.service"; then
    changed=0
  fi
  return $changed
}

install_service() {
  if [ "$METRICS" = true ]; then write_kubeconfig; fi
  if install_files; then
    log "lamina $VERSION installed in $INSTALL_DIR; (re)starting lamina.service"
    on_host systemctl daemon-reload
    on_host systemctl enable lamina.service
    on_host systemctl restart lamina.service
  else
    on_host systemctl enable lamina.service
    on_host systemctl start lamina.service
  fi
  await_socket
}

await_socket() {
  local i
  for ((i = 0; i < SOCKET_WAIT_SECONDS * 2; i++)); do
    [ -S "$CRI_SOCKET" ] && return 0
    sleep 0.5
  done
  log "lamina's CRI socket $CRI_SOCKET did not appear in ${SOCKET_WAIT_SECONDS}s"
  return 1
}

# A kubeconfig for the host service from this pod's service account (its token expires; the
# supervisor rewrites it).
write_kubeconfig() {
  [ -r "$SA_DIR/token" ] || { log "no service account token in $SA_DIR: no kubeconfig written"; return 0; }
  local dir="$HOST$CONFIG_DIR"
  mkdir -p "$dir"
  cat "$SA_DIR/ca.crt" > "$dir/ca.crt.tmp" && mv "$dir/ca.crt.tmp" "$dir/ca.crt"
  (
    umask 077
    cat > "$dir/kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cluster
  cluster:
    server: $KUBE_API
    certificate-authority: $CONFIG_DIR/ca.crt
users:
- name: lamina
  user:
    token: $(cat "$SA_DIR/token")
contexts:
- name: lamina
  context:
    cluster: cluster
    user: lamina
current-context: lamina
EOF
  )
  mv "$dir/kubeconfig.tmp" "$dir/kubeconfig"
}

# True once the DaemonSet is deleted (helm uninstall), false while it exists (a rollout, a node
# drain) or when the API server cannot say: then the node keeps lamina.
daemonset_gone() {
  [ -n "$DAEMONSET" ] && [ -n "$NAMESPACE" ] || return 1
  local body code
  body="$(mktemp)"
  local ca=()
  [ -r "$SA_DIR/ca.crt" ] && ca=(--cacert "$SA_DIR/ca.crt")
  code="$(curl -s -o "$body" -w '%{http_code}' --max-time 10 "${ca[@]}" \
    -H "Authorization: Bearer $(cat "$SA_DIR/token" 2>/dev/null)" \
    "$KUBE_API/apis/apps/v1/namespaces/$NAMESPACE/daemonsets/$DAEMONSET")" || code=000
  local gone=1
  if [ "$code" = 404 ] || { [ "$code" = 200 ] && grep -q '"deletionTimestamp"' "$body"; }; then
    gone=0
  fi
  rm -f "$body"
  log "DaemonSet $NAMESPACE/$DAEMONSET: HTTP $code, $([ $gone = 0 ] && echo deleted || echo kept)"
  return $gone
}

do_install() {
  if [ "$CONTAINERD_CONFIGURE" = true ]; then configure_containerd; fi
  if [ "$MODE" = systemd ]; then
    install_service
    if [ "$KUBELET_CONFIGURE" = true ]; then configure_kubelet; fi
  fi
  log "node set up ($MODE mode)"
}

do_uninstall() {
  if [ "$KUBELET_CONFIGURE" = true ] && revert_file "$HOST$KUBELET_CONFIG"; then
    log "$KUBELET_CONFIG reverted"
    restart_if kubelet "$KUBELET_RESTART"
  fi
  if [ "$CONTAINERD_CONFIGURE" = true ] && revert_file "$HOST$CONTAINERD_CONFIG"; then
    log "$CONTAINERD_CONFIG reverted"
    restart_if containerd "$CONTAINERD_RESTART"
  fi
  if [ "$MODE" = systemd ] && [ -e "$HOST$SYSTEMD_DIR/lamina.service" ]; then
    on_host systemctl disable --now lamina.service || true
    rm -f "$HOST$SYSTEMD_DIR/lamina.service"
    on_host systemctl daemon-reload || true
  fi
  rm -rf "$HOST$INSTALL_DIR" "$HOST$CONFIG_DIR"
  log "node reverted; lamina's state stays in its root directory until removed by hand"
}

do_supervise() {
  local stop=0
  trap 'stop=1' TERM INT
  while [ $stop = 0 ]; do
    if [ "$METRICS" = true ]; then write_kubeconfig; fi
    sleep "${REFRESH_SECONDS:-300}" &
    wait $! || true
  done
  if daemonset_gone; then
    do_uninstall
  fi
}

do_serve() {
  local pid
  "$LAMINA_SOURCE/bin/lamina" serve --config "$CHART_DIR/lamina.toml" "$@" &
  pid=$!
  trap 'kill -TERM $pid 2>/dev/null || true' TERM INT
  local status=0
  wait $pid || status=$?
  if [ $status -gt 128 ]; then
    # the trapped SIGTERM ended the wait early, while lamina still stops: its own status follows
    status=0
    wait $pid || status=$?
  fi
  if daemonset_gone; then
    do_uninstall
  fi
  return $status
}

case "${1:-}" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  supervise) do_supervise ;;
  serve) shift; do_serve "$@" ;;
  *) echo "usage: $0 install|uninstall|supervise|serve [FLAGS]" >&2; exit 2 ;;
esac
