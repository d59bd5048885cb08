{{/*
The pod template of a utpost process, shared by every component's workload. Takes a dict:
  ctx            the root context
  component      the component label: monolith, ledger, registry, router, courier, print, mailbox-sim
  target         the --target of the process
  values         the component's values (resources, nodeSelector, tolerations, affinity, podAnnotations)
  kek            mount the key-encryption keys (the components that seal data)
  certs          components whose client certificates this process uses
  printProvider  mount the print provider's certificate
  simProviders   mount mailbox-sim's provider key pairs
  dataClaim      the data volume is the StatefulSet's claim "data" (else an emptyDir)
  backup         mount the claim "backup" at the ledger's backup.dir
  shard          pass --shard=$(POD_NAME): the pod's name is its shard's name
*/}}
{{- define "utpost.podTemplate" -}}
{{- $ctx := .ctx }}
{{- $v := .values -}}
metadata:
  labels:
    {{- include "utpost.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
    {{- with $ctx.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include "utpost.config" $ctx | sha256sum }}
    {{- with merge (dict) ($v.podAnnotations | default dict) $ctx.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "utpost.serviceAccountName" $ctx }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $ctx.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $ctx.Values.podSecurityContext | nindent 4 }}
  # SIGTERM: utpost reports NOT_SERVING, refuses new calls and gives calls in flight
  # drain_timeout to finish; the kubelet waits 10 s longer before it kills.
  terminationGracePeriodSeconds: {{ add (int $ctx.Values.drainTimeoutSeconds) 10 }}
  {{- with $ctx.Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with ($v.nodeSelector | default $ctx.Values.nodeSelector) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($v.affinity | default $ctx.Values.affinity) }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($v.tolerations | default $ctx.Values.tolerations) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "utpost.image" $ctx }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      command:
        - utpost
      args:
        - --config={{ include "utpost.path.config" $ctx }}/utpost.yaml
        - --target={{ .target }}
        {{- if .shard }}
        - --shard=$(POD_NAME)
        {{- end }}
      {{- if .shard }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
      {{- end }}
      ports:
        - name: grpc
          containerPort: {{ $ctx.Values.ports.grpc }}
          protocol: TCP
        - name: http-metrics
          containerPort: {{ $ctx.Values.ports.metrics }}
          protocol: TCP
        - name: grpc-health
          containerPort: {{ $ctx.Values.ports.health }}
          protocol: TCP
      # grpc.health.v1 on the plaintext health-only port (config health.listen).
      startupProbe:
        grpc:
          port: {{ $ctx.Values.ports.health }}
        {{- toYaml $ctx.Values.probes.startup | nindent 8 }}
      readinessProbe:
        grpc:
          port: {{ $ctx.Values.ports.health }}
        {{- toYaml $ctx.Values.probes.readiness | nindent 8 }}
      livenessProbe:
        grpc:
          port: {{ $ctx.Values.ports.health }}
        {{- toYaml $ctx.Values.probes.liveness | nindent 8 }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $ctx.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: {{ include "utpost.path.config" $ctx }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        - name: data
          mountPath: {{ include "utpost.path.dataMount" $ctx }}
        - name: tls
          mountPath: {{ include "utpost.path.tls" $ctx }}
          readOnly: true
        {{- if $ctx.Values.tls.clientCaConfigMap }}
        - name: client-ca
          mountPath: {{ include "utpost.path.clientCa" $ctx }}
          readOnly: true
        {{- end }}
        {{- range .certs }}
        - name: component-{{ . }}
          mountPath: {{ include "utpost.path.components" $ctx }}/{{ . }}
          readOnly: true
        {{- end }}
        {{- if .kek }}
        - name: kek
          mountPath: {{ include "utpost.path.kek" $ctx }}
          readOnly: true
        {{- end }}
        {{- if .printProvider }}
        - name: print-provider
          mountPath: {{ include "utpost.path.printProvider" $ctx }}
          readOnly: true
        {{- end }}
        {{- if and .simProviders $ctx.Values.mailboxSim.providersSecret }}
        - name: sim-providers
          mountPath: {{ include "utpost.path.simProviders" $ctx }}
          readOnly: true
        {{- end }}
        {{- if .backup }}
        - name: backup
          mountPath: {{ include "utpost.path.backup" $ctx }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "utpost.fullname" $ctx }}-config
        defaultMode: 0444
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
    {{- if not .dataClaim }}
    - name: data
      emptyDir:
        sizeLimit: 1Gi
    {{- end }}
    - name: tls
      secret:
        secretName: {{ include "utpost.serverSecretName" $ctx }}
        defaultMode: 0440
        items:
          - key: ca.crt
            path: ca.crt
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- with $ctx.Values.tls.clientCaConfigMap }}
    - name: client-ca
      configMap:
        name: {{ . }}
        defaultMode: 0444
        items:
          - key: ca.crt
            path: ca.crt
    {{- end }}
    {{- range .certs }}
    - name: component-{{ . }}
      secret:
        secretName: {{ include "utpost.componentSecretName" (dict "ctx" $ctx "component" .) }}
        defaultMode: 0440
        items:
          - key: tls.crt
            path: client.pem
          - key: tls.key
            path: client.key
          - key: ca.crt
            path: ca.pem
    {{- end }}
    {{- if .kek }}
    - name: kek
      secret:
        secretName: {{ $ctx.Values.kek.existingSecret }}
        defaultMode: 0400
    {{- end }}
    {{- if .printProvider }}
    - name: print-provider
      secret:
        secretName: {{ $ctx.Values.print.provider.certificateSecret }}
        defaultMode: 0444
        items:
          - key: {{ $ctx.Values.print.provider.certificateKey }}
            path: cert.pem
    {{- end }}
    {{- if and .simProviders $ctx.Values.mailboxSim.providersSecret }}
    - name: sim-providers
      secret:
        secretName: {{ $ctx.Values.mailboxSim.providersSecret }}
        defaultMode: 0440
        items:
          {{- range $ctx.Values.mailboxSim.providers }}
          - key: {{ . }}.key.pem
            path: {{ . }}/key.pem
          {{- end }}
    {{- end }}
{{- end }}

{{/* A volumeClaimTemplate. Takes (dict "name" "data" "persistence" .Values.ledger.persistence). */}}
{{- define "utpost.volumeClaim" -}}
- metadata:
    name: {{ .name }}
  spec:
    accessModes:
      {{- toYaml .persistence.accessModes | nindent 6 }}
    {{- with .persistence.storageClass }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ .persistence.size }}
{{- end }}

{{/*
A component's Service, and for a StatefulSet its headless Service (stable pod names; not
scraped, so the ServiceMonitor does not count a pod twice). Takes (dict "ctx" $ "component"
"ledger" "name" "<object name>" "headless" bool).
*/}}
{{- define "utpost.service" -}}
{{- $ctx := .ctx }}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}{{ if .headless }}-headless{{ end }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "utpost.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
    {{- if .headless }}
    prometheus.io/service-monitor: "false"
    {{- end }}
  {{- if and (not .headless) $ctx.Values.service.annotations }}
  annotations:
    {{- toYaml $ctx.Values.service.annotations | nindent 4 }}
  {{- end }}
spec:
  {{- if .headless }}
  clusterIP: None
  # Shards and peers are addressed by pod name, also while a pod is not ready.
  publishNotReadyAddresses: true
  {{- else }}
  type: {{ $ctx.Values.service.type }}
  {{- end }}
  selector:
    {{- include "utpost.selectorLabels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $ctx.Values.ports.grpc }}
      targetPort: grpc
      protocol: TCP
    - name: http-metrics
      port: {{ $ctx.Values.ports.metrics }}
      targetPort: http-metrics
      protocol: TCP
{{- end }}

{{/* A PodDisruptionBudget. Takes (dict "ctx" $ "component" "router" "name" "<object name>" "budget" <values>). */}}
{{- define "utpost.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "utpost.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  {{- toYaml .budget | nindent 2 }}
  selector:
    matchLabels:
      {{- include "utpost.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end }}
