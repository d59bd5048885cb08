{{/*
Names and labels.
*/}}
{{- define "utpost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "utpost.fullname" -}}
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

{{- define "utpost.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of a component's objects: <fullname>-<component>. Takes (dict "ctx" $ "component" "ledger"). */}}
{{- define "utpost.componentFullname" -}}
{{- printf "%s-%s" (include "utpost.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of a component. Takes (dict "ctx" $ "component" "ledger"). */}}
{{- define "utpost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "utpost.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Labels of every object. Takes (dict "ctx" $ "component" "ledger"); component may be empty. */}}
{{- define "utpost.labels" -}}
helm.sh/chart: {{ include "utpost.chart" .ctx }}
{{ include "utpost.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: utpost
{{- end }}

{{- define "utpost.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "utpost.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "utpost.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "utpost.isMonolith" -}}
{{- if eq .Values.deploymentMode "Monolith" }}true{{ end }}
{{- end }}

{{/*
Paths inside the pods. The data volume is mounted at /var/lib/utpost and utpost's data_dir is
its subdirectory data/: utpost makes its data directory owner-only (0700), which it can do
only on a directory it created itself, not on the volume's root (owned by root, and
group-writable through fsGroup).
*/}}
{{- define "utpost.path.config" -}}/etc/utpost/config{{- end }}
{{- define "utpost.path.dataMount" -}}/var/lib/utpost{{- end }}
{{- define "utpost.path.dataDir" -}}/var/lib/utpost/data{{- end }}
{{- define "utpost.path.kek" -}}/etc/utpost/kek{{- end }}
{{- define "utpost.path.tls" -}}/etc/utpost/tls{{- end }}
{{- define "utpost.path.clientCa" -}}/etc/utpost/client-ca{{- end }}
{{- define "utpost.path.components" -}}/etc/utpost/components{{- end }}
{{- define "utpost.path.printProvider" -}}/etc/utpost/print-provider{{- end }}
{{- define "utpost.path.simProviders" -}}/etc/utpost/mailbox-sim/providers{{- end }}
{{- define "utpost.path.backup" -}}/var/lib/utpost-backup{{- end }}
{{- define "utpost.path.backupClient" -}}/etc/utpost/backup-client{{- end }}

{{/*
Certificates. The Secret of the server certificate and of a component's client certificate:
cert-manager's when tls.certManager.enabled, else the existing one named in the values.
*/}}
{{- define "utpost.serverSecretName" -}}
{{- if .Values.tls.certManager.enabled }}
{{- printf "%s-server-tls" (include "utpost.fullname" .) }}
{{- else }}
{{- .Values.tls.serverSecret }}
{{- end }}
{{- end }}

{{/* Takes (dict "ctx" $ "component" "courier"). */}}
{{- define "utpost.componentSecretName" -}}
{{- if .ctx.Values.tls.certManager.enabled }}
{{- printf "%s-%s-client-tls" (include "utpost.fullname" .ctx) .component }}
{{- else }}
{{- index .ctx.Values.tls.componentSecrets .component }}
{{- end }}
{{- end }}

{{/*
The components that need a client certificate, one per line. Microservices: every component
that calls another (the ledger calls the registry for route previews). Monolith: components
talk in-process, but the courier and print use their certificates towards providers.
*/}}
{{- define "utpost.certComponents" -}}
{{- if include "utpost.isMonolith" . }}
courier
print
{{- else }}
ledger
router
courier
print
{{- end }}
{{- end }}

{{/* The Services whose names the server certificate carries, one per line. */}}
{{- define "utpost.serviceNames" -}}
{{- $fullname := include "utpost.fullname" . }}
{{- if include "utpost.isMonolith" . }}
{{ $fullname }}
{{ $fullname }}-headless
{{- else }}
{{- range list "ledger" "registry" "router" "courier" "print" }}
{{ include "utpost.componentFullname" (dict "ctx" $ "component" .) }}
{{- end }}
{{- range list "ledger" "registry" "print" }}
{{ include "utpost.componentFullname" (dict "ctx" $ "component" .) }}-headless
{{- end }}
{{- if .Values.mailboxSim.enabled }}
{{ include "utpost.componentFullname" (dict "ctx" $ "component" "mailbox-sim") }}
{{ include "utpost.componentFullname" (dict "ctx" $ "component" "mailbox-sim") }}-headless
{{- end }}
{{- end }}
{{- end }}

{{/* host:port of a component's Service. Takes (dict "ctx" $ "component" "ledger"). */}}
{{- define "utpost.componentAddress" -}}
{{- printf "%s.%s.svc:%d" (include "utpost.componentFullname" .) .ctx.Release.Namespace (int .ctx.Values.ports.grpc) }}
{{- end }}

{{/*
An organisation number as the shard map compares them: upper case, and a bare 9-digit
(Norwegian) or 8-digit (Danish CVR) number with its country prefix.
*/}}
{{- define "utpost.normaliseOrganisation" -}}
{{- $o := . | toString | trim | upper }}
{{- if regexMatch "^[0-9]{9}$" $o }}
{{- printf "NO%s" $o }}
{{- else if regexMatch "^[0-9]{8}$" $o }}
{{- printf "DK%s" $o }}
{{- else }}
{{- $o }}
{{- end }}
{{- end }}

{{/*
The ledger's shard map as YAML ({shards: [...]}), from ledger.shards: each shard is the
StatefulSet replica of the same index. Fails on a map utpost could not use.
*/}}
{{- define "utpost.shardMap" -}}
{{- $shards := .Values.ledger.shards }}
{{- if or (not (kindIs "slice" $shards)) (eq (len $shards) 0) }}
{{- fail "ledger.shards must be a list with at least one shard (e.g. [{organisations: [], default: true}])" }}
{{- end }}
{{- $ledger := include "utpost.componentFullname" (dict "ctx" . "component" "ledger") }}
{{- $headless := printf "%s-headless" $ledger }}
{{- $defaults := 0 }}
{{- $owner := dict }}
{{- $out := list }}
{{- range $i, $shard := $shards }}
{{- if not (kindIs "map" $shard) }}
{{- fail (printf "ledger.shards[%d] must be a map with organisations and default" $i) }}
{{- end }}
{{- range $key, $_ := $shard }}
{{- if not (has $key (list "organisations" "default")) }}
{{- fail (printf "ledger.shards[%d] has an unknown key %q: a shard has organisations (a list) and default (true or false)" $i $key) }}
{{- end }}
{{- end }}
{{- $name := printf "%s-%d" $ledger $i }}
{{- if $shard.default }}
{{- $defaults = add1 $defaults }}
{{- end }}
{{- $orgs := list }}
{{- range $shard.organisations }}
{{- $org := include "utpost.normaliseOrganisation" . }}
{{- if hasKey $owner $org }}
{{- fail (printf "ledger.shards: organisation %s is in shard %s and in shard %d; an organisation belongs to at most one shard" $org (get $owner $org) $i) }}
{{- end }}
{{- $_ := set $owner $org (toString $i) }}
{{- $orgs = append $orgs $org }}
{{- end }}
{{- $out = append $out (dict "name" $name "address" (printf "%s.%s.%s.svc:%d" $name $headless $.Release.Namespace (int $.Values.ports.grpc)) "organisations" $orgs "default" (ternary true false (eq (toString $shard.default) "true"))) }}
{{- end }}
{{- if and (gt (len $shards) 1) (ne $defaults 1) }}
{{- fail (printf "ledger.shards: exactly one shard must have default: true (it owns every organisation not listed), found %d" $defaults) }}
{{- end }}
{{- dict "shards" $out | toYaml }}
{{- end }}

{{/*
Checks on the values as a whole; included by the ConfigMap, so every rendering runs them.
*/}}
{{- define "utpost.validate" -}}
{{- if not (has .Values.deploymentMode (list "Monolith" "Microservices")) }}
{{- fail (printf "deploymentMode must be Monolith or Microservices, not %q" (toString .Values.deploymentMode)) }}
{{- end }}
{{- if not .Values.kek.existingSecret }}
{{- fail "kek.existingSecret is required: the name of an existing Secret with the key-encryption keys (kek-<id>.key files of 32 random bytes). The chart never creates keys; see README.md, \"Key-encryption keys\"" }}
{{- end }}
{{- if not .Values.print.provider.certificateSecret }}
{{- fail "print.provider.certificateSecret is required: an existing Secret with the print provider's certificate (print encrypts its batches to it; key print.provider.certificateKey)" }}
{{- end }}
{{- if .Values.tls.certManager.enabled }}
{{- if not .Values.tls.certManager.issuerRef.name }}
{{- fail "tls.certManager.issuerRef.name is required when tls.certManager.enabled is true" }}
{{- end }}
{{- else }}
{{- if not .Values.tls.serverSecret }}
{{- fail "tls.serverSecret is required when tls.certManager.enabled is false: an existing kubernetes.io/tls Secret with ca.crt" }}
{{- end }}
{{- range (include "utpost.certComponents" . | trim | splitList "\n") }}
{{- if not (index $.Values.tls.componentSecrets .) }}
{{- fail (printf "tls.componentSecrets.%s is required when tls.certManager.enabled is false: an existing kubernetes.io/tls Secret with ca.crt and the SAN URI urn:utpost:component:%s" . .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not (include "utpost.isMonolith" .) }}
{{- $_ := include "utpost.shardMap" . }}
{{- if and (eq .Values.print.provider.endpoint "mailbox-sim") (not .Values.mailboxSim.enabled) }}
{{- fail "print.provider.endpoint is mailbox-sim but mailboxSim.enabled is false: in Microservices mode enable the simulator or point print at a real provider (host:port)" }}
{{- end }}
{{- end }}
{{- if and .Values.backup.enabled (not .Values.backup.clientSecret) }}
{{- fail "backup.clientSecret is required when backup.enabled is true: an existing kubernetes.io/tls Secret with the operator client certificate for utpostctl" }}
{{- end }}
{{- if lt (int .Values.drainTimeoutSeconds) 1 }}
{{- fail "drainTimeoutSeconds must be a positive number of seconds" }}
{{- end }}
{{- end }}

{{/*
utpost's configuration file: what a pod needs, with .Values.config merged over it.
*/}}
{{- define "utpost.generatedConfig" -}}
dev_pki: false
log_level: {{ .Values.logLevel | quote }}
listen: {{ printf "0.0.0.0:%d" (int .Values.ports.grpc) | quote }}
data_dir: {{ include "utpost.path.dataDir" . }}
key_dir: {{ include "utpost.path.kek" . }}
drain_timeout: {{ printf "%ds" (int .Values.drainTimeoutSeconds) | quote }}
health:
  listen: {{ printf "0.0.0.0:%d" (int .Values.ports.health) | quote }}
metrics:
  listen: {{ printf "0.0.0.0:%d" (int .Values.ports.metrics) | quote }}
tls:
  {{- if .Values.tls.clientCaConfigMap }}
  ca: {{ include "utpost.path.clientCa" . }}/ca.crt
  {{- else }}
  ca: {{ include "utpost.path.tls" . }}/ca.crt
  {{- end }}
  cert: {{ include "utpost.path.tls" . }}/tls.crt
  key: {{ include "utpost.path.tls" . }}/tls.key
  component_ca: {{ include "utpost.path.tls" . }}/ca.crt
components:
  certs_dir: {{ include "utpost.path.components" . }}
  {{- if not (include "utpost.isMonolith" .) }}
  addresses:
    ledger: {{ include "utpost.componentAddress" (dict "ctx" . "component" "ledger") }}
    registry: {{ include "utpost.componentAddress" (dict "ctx" . "component" "registry") }}
    {{- if .Values.mailboxSim.enabled }}
    mailbox-sim: {{ include "utpost.componentAddress" (dict "ctx" . "component" "mailbox-sim") }}
    {{- end }}
  {{- end }}
print:
  provider_id: {{ .Values.print.provider.id | quote }}
  provider_endpoint: {{ .Values.print.provider.endpoint | quote }}
  provider_certificate: {{ include "utpost.path.printProvider" . }}/cert.pem
{{- if .Values.mailboxSim.providersSecret }}
mailbox_sim:
  providers_dir: {{ include "utpost.path.simProviders" . }}
{{- end }}
{{- if and (not (include "utpost.isMonolith" .)) (gt (len .Values.ledger.shards) 1) }}
{{ include "utpost.shardMap" . }}
{{- end }}
{{- if .Values.backup.enabled }}
backup:
  dir: {{ include "utpost.path.backup" . }}
{{- end }}
{{- end }}

{{- define "utpost.config" -}}
{{- $generated := include "utpost.generatedConfig" . | fromYaml }}
{{- $merged := mustMergeOverwrite $generated (deepCopy (.Values.config | default dict)) }}
{{- toYaml $merged }}
{{- end }}
