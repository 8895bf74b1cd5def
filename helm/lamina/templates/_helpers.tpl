{{- define "lamina.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lamina.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lamina.labels" -}}
app.kubernetes.io/name: {{ include "lamina.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "lamina.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lamina.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lamina.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lamina.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lamina.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The version directory the systemd mode installs lamina into: the image tag, made a file name. */}}
{{- define "lamina.version" -}}
{{- default .Chart.AppVersion .Values.image.tag | replace "/" "_" | replace ":" "_" -}}
{{- end -}}

{{/*
Checks the values that must agree with each other; each failure names the value.
*/}}
{{- define "lamina.validate" -}}
{{- $root := index .Values.config "root" | default "/var/lib/lamina" -}}
{{- if ne (clean $root) (clean .Values.host.stateDir) -}}
{{- fail (printf "config.root (%s) must be host.stateDir (%s): the state directory is mounted from there" $root .Values.host.stateDir) -}}
{{- end -}}
{{- range $key := list "socket" "snapshotter-socket" -}}
{{- $sock := index $.Values.config $key | default (printf "/run/lamina/%s" (ternary "lamina.sock" "snapshotter.sock" (eq $key "socket"))) -}}
{{- if ne (dir (clean $sock)) (clean $.Values.host.runDir) -}}
{{- fail (printf "config.%s (%s) must be in host.runDir (%s): the sockets are shared with the node from there" $key $sock $.Values.host.runDir) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.mode "pod") .Values.kubelet.configure -}}
{{- fail "kubelet.configure needs mode=systemd: with lamina in a pod, kubelet could not pull lamina's own image after a reboot" -}}
{{- end -}}
{{- end -}}

{{/* The snapshotter socket, as lamina.toml names it. */}}
{{- define "lamina.snapshotterSocket" -}}
{{- index .Values.config "snapshotter-socket" | default "/run/lamina/snapshotter.sock" -}}
{{- end -}}

{{- define "lamina.criSocket" -}}
{{- index .Values.config "socket" | default "/run/lamina/lamina.sock" -}}
{{- end -}}

{{/* The proxy plugin's name in containerd: lamina's snapshotter-name, else "lamina". */}}
{{- define "lamina.snapshotterName" -}}
{{- index .Values.config "snapshotter-name" | default "lamina" -}}
{{- end -}}

{{/*
One TOML value from a values entry: strings, numbers, booleans and lists of them (JSON's
notation for these is TOML's too).
*/}}
{{- define "lamina.tomlValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq (floor .) . -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else if kindIs "slice" . -}}
[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "lamina.tomlValue" $v }}{{ end }}]
{{- else -}}
{{- toJson . -}}
{{- end -}}
{{- end -}}

{{/* lamina.toml from .Values.config: plain keys first, then one table per map. */}}
{{- define "lamina.toml" -}}
# lamina serve --config: rendered by the lamina chart from its `config` value.
{{- range $k, $v := .Values.config }}
{{- if not (kindIs "map" $v) }}
{{ $k }} = {{ include "lamina.tomlValue" $v }}
{{- end }}
{{- end }}
{{- if not (hasKey .Values.config "containerd-address") }}
{{- /* the socket the pod mounts, where the operator says containerd is */}}
containerd-address = {{ include "lamina.tomlValue" .Values.containerd.socket }}
{{- end }}
{{- range $k, $v := .Values.config }}
{{- if kindIs "map" $v }}

[{{ $k }}]
{{- range $k2, $v2 := $v }}
{{ $k2 }} = {{ include "lamina.tomlValue" $v2 }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Flags for lamina serve beside --config: the metrics endpoint and what the values add. */}}
{{- define "lamina.serveFlags" -}}
{{- $flags := list -}}
{{- if .Values.metrics.enabled -}}
{{- $flags = append $flags (printf "--metrics-address=0.0.0.0:%v" .Values.metrics.port) -}}
{{- if eq .Values.mode "systemd" -}}
{{- $flags = append $flags (printf "--kubeconfig=%s/kubeconfig" .Values.host.configDir) -}}
{{- end -}}
{{- end -}}
{{- range .Values.extraArgs -}}
{{- $flags = append $flags . -}}
{{- end -}}
{{- join " " $flags -}}
{{- end -}}

{{/* The environment of node-setup.sh, from the values. */}}
{{- define "lamina.nodeEnv" -}}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: DAEMONSET
  value: {{ include "lamina.fullname" . | quote }}
- name: HOST
  value: /host
- name: MODE
  value: {{ .Values.mode | quote }}
- name: VERSION
  value: {{ include "lamina.version" . | quote }}
- name: INSTALL_DIR
  value: {{ .Values.host.installDir | quote }}
- name: CONFIG_DIR
  value: {{ .Values.host.configDir | quote }}
- name: SYSTEMD_DIR
  value: {{ .Values.host.systemdDir | quote }}
- name: CONTAINERD_CONFIGURE
  value: {{ .Values.containerd.configure | quote }}
- name: CONTAINERD_CONFIG
  value: {{ printf "%s/config.toml" .Values.containerd.configDir | quote }}
- name: CRI_TABLE
  value: {{ .Values.containerd.criTable | quote }}
- name: CONTAINERD_RESTART
  value: {{ .Values.containerd.restart | quote }}
- name: SNAPSHOTTER_NAME
  value: {{ include "lamina.snapshotterName" . | quote }}
- name: SNAPSHOTTER_SOCKET
  value: {{ include "lamina.snapshotterSocket" . | quote }}
- name: CRI_SOCKET
  value: {{ include "lamina.criSocket" . | quote }}
- name: KUBELET_CONFIGURE
  value: {{ .Values.kubelet.configure | quote }}
- name: KUBELET_CONFIG
  value: {{ .Values.kubelet.configFile | quote }}
- name: KUBELET_RESTART
  value: {{ .Values.kubelet.restart | quote }}
- name: METRICS
  value: {{ .Values.metrics.enabled | quote }}
{{- end -}}

{{/*
The mounts of both containers. lamina's state and run directories are mounted at their own
paths with Bidirectional propagation, so that mounts lamina makes there are the node's too;
the node's files that node-setup.sh edits are under /host.
*/}}
{{- define "lamina.volumeMounts" -}}
- name: chart
  mountPath: /etc/lamina-chart
- name: state
  mountPath: {{ .Values.host.stateDir }}
  mountPropagation: {{ .Values.host.mountPropagation }}
- name: run
  mountPath: {{ .Values.host.runDir }}
  mountPropagation: {{ .Values.host.mountPropagation }}
- name: containerd-socket
  mountPath: {{ .Values.containerd.socket }}
- name: containerd-config
  mountPath: /host{{ .Values.containerd.configDir }}
{{- if eq .Values.mode "systemd" }}
- name: install
  mountPath: /host{{ .Values.host.installDir }}
- name: config
  mountPath: /host{{ .Values.host.configDir }}
- name: systemd
  mountPath: /host{{ .Values.host.systemdDir }}
{{- end }}
{{- if .Values.kubelet.configure }}
- name: kubelet-config
  mountPath: /host{{ dir .Values.kubelet.configFile }}
{{- end }}
{{- end -}}
