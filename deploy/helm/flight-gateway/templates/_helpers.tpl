{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "flight-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name, unless the release name already contains the chart name. */}}
{{- define "flight-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flight-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flight-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flight-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flight-gateway.labels" -}}
helm.sh/chart: {{ include "flight-gateway.chart" . }}
{{ include "flight-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret the pods read FLIGHT_GATEWAY_* secrets from. */}}
{{- define "flight-gateway.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "flight-gateway.fullname" .) }}
{{- end }}

{{/*
A value as the gateway reads it from the environment: maps and lists as JSON, whole numbers
without an exponent (YAML numbers arrive as float64, which would print 1000000 as 1e+06).
*/}}
{{- define "flight-gateway.envValue" -}}
{{- if or (kindIs "map" .) (kindIs "slice" .) }}
{{- toJson . }}
{{- else if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* Settings the chart owns or keeps out of the pod spec; refuse them in .Values.config. */}}
{{- define "flight-gateway.checkConfig" -}}
{{- range $key := list "host" "port" "data_dir" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s is set by the chart (the pod listens on 0.0.0.0:8815 with its state in /data); remove it" $key) }}
{{- end }}
{{- end }}
{{- range $key, $where := dict "token_keys" "secrets.tokenKeys" "demo_password" "secrets.demoPassword" "users" "secrets.users" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s is a secret; set %s (or secrets.existingSecret) instead" $key $where) }}
{{- end }}
{{- end }}
{{- if and .Values.persistence.enabled (gt (int .Values.replicaCount) 1) }}
{{- fail "persistence.enabled needs replicaCount: 1 (one ReadWriteOnce volume, and DuckDB locks its files)" }}
{{- end }}
{{- end }}
