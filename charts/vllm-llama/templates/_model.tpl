{{/*
Model and GPU resolution: the ONE implementation of "does this model fit this
GPU". It reads catalog.yaml (the file the plugin embeds too), applies the
values, fails with a one-line message when the combination cannot work, and
returns the resolved settings as JSON:

  {{- $m := include "vllm-llama.model" . | fromJson }}

Keys: preset, id, name (ai.gke.io/model label), gpu, accelerator, count,
cpu, memory, ephemeralStorage, weightsGB, startupFailureThreshold, tag,
version (the x.y.z whose flag rules apply), versionFallback (tag is not a
version), args (vLLM arguments, extraArgs included).

Numbers from fromYaml are float64 and --set gives int64: everything numeric
goes through int before use.
*/}}
{{- define "vllm-llama.model" -}}
{{- $cat := .Files.Get "catalog.yaml" | fromYaml -}}
{{- if not (and $cat.presets $cat.gpus) -}}
{{- fail "catalog.yaml is missing or unreadable in the chart; reinstall the chart" -}}
{{- end -}}
{{- $flags := $cat.vllmFlags | default dict -}}
{{- $v := .Values -}}
{{- $m := $v.model -}}
{{- $presetName := $m.preset | default "" | toString -}}
{{- $id := $m.id | default "" | toString -}}
{{- $presetNames := keys $cat.presets | sortAlpha -}}
{{- $gpuNames := keys $cat.gpus | sortAlpha -}}
{{- if and (not $presetName) (not $id) -}}
{{- fail (printf "no model: set model.preset to one of %s, or model.id (with gpu.type, gpu.count and model.weightsGB) for a custom model" (join ", " $presetNames)) -}}
{{- end -}}
{{- if and $id (not (regexMatch `^[^\s'"]+$` $id)) -}}
{{- fail (printf "model.id %q is not a model id: use a Hugging Face id such as org/name" $id) -}}
{{- end -}}
{{- $p := dict -}}
{{- $gpuName := $v.gpu.type | default "" | toString -}}
{{- $count := int ($v.gpu.count | default 0) -}}
{{- $weightsGB := int ($m.weightsGB | default 0) -}}
{{- if $presetName -}}
  {{- if not (hasKey $cat.presets $presetName) -}}
  {{- fail (printf "unknown model.preset %q: choose one of %s, or set model.preset=\"\" and model.id for a custom model" $presetName (join ", " $presetNames)) -}}
  {{- end -}}
  {{- $p = index $cat.presets $presetName -}}
  {{- $id = $id | default $p.id -}}
  {{- $gpuName = $gpuName | default $p.defaultGPU -}}
  {{- $weightsGB = $weightsGB | default (int $p.weightsGB) -}}
{{- else -}}
  {{- $missing := list -}}
  {{- if not $gpuName }}{{ $missing = append $missing "gpu.type" }}{{ end -}}
  {{- if not $count }}{{ $missing = append $missing "gpu.count" }}{{ end -}}
  {{- if and (not $weightsGB) (not (int ($v.probes.startup.failureThreshold | default 0))) }}{{ $missing = append $missing "model.weightsGB (or probes.startup.failureThreshold)" }}{{ end -}}
  {{- if $missing -}}
  {{- fail (printf "custom model %s (model.preset is empty) needs %s: set them, or use a preset (%s)" $id (join ", " $missing) (join ", " $presetNames)) -}}
  {{- end -}}
{{- end -}}
{{- if not (hasKey $cat.gpus $gpuName) -}}
{{- fail (printf "unknown gpu.type %q: choose one of %s" $gpuName (join ", " $gpuNames)) -}}
{{- end -}}
{{- $g := index $cat.gpus $gpuName -}}
{{- $fit := dict -}}
{{- if $presetName -}}
  {{- $fits := $p.fits | default dict -}}
  {{- $misfits := $p.misfits | default dict -}}
  {{- if hasKey $misfits $gpuName -}}
  {{- fail (printf "model %s (%s) does not fit on gpu %s (%s): %s; use gpu.type one of: %s" $presetName $p.id $gpuName $g.accelerator (index $misfits $gpuName) (join ", " (keys $fits | sortAlpha))) -}}
  {{- end -}}
  {{- if not (hasKey $fits $gpuName) -}}
  {{- fail (printf "catalog.yaml: preset %s lists gpu %s neither as a fit nor as a misfit" $presetName $gpuName) -}}
  {{- end -}}
  {{- $fit = index $fits $gpuName -}}
  {{- $count = $count | default (int $fit.count) -}}
{{- end -}}
{{- $counts := list -}}
{{- $offered := false -}}
{{- range $g.counts }}{{ $counts = append $counts (int .) }}{{ if eq (int .) $count }}{{ $offered = true }}{{ end }}{{ end -}}
{{- if not $offered -}}
  {{- if eq $v.gke.mode "autopilot" -}}
  {{- fail (printf "gpu.count %d is not offered by %s (%s) on GKE Autopilot: allowed counts are %s" $count $gpuName $g.accelerator (join ", " $counts)) -}}
  {{- else -}}
  {{- fail (printf "gpu.count %d is not offered by %s (%s): its GKE machine types have %s GPUs" $count $gpuName $g.accelerator (join ", " $counts)) -}}
  {{- end -}}
{{- end -}}
{{- if and $presetName (lt $count (int $fit.minCount)) -}}
  {{- $enough := list -}}
  {{- range $counts }}{{ if ge . (int $fit.minCount) }}{{ $enough = append $enough . }}{{ end }}{{ end -}}
  {{- fail (printf "model %s needs at least %d x %s GPUs: its weights (about %d GB) do not fit in %d x %d GB; set gpu.count to one of %s" $presetName (int $fit.minCount) $gpuName (int $p.weightsGB) $count (int $g.memoryGB) (join ", " $enough)) -}}
{{- end -}}
{{- if and (not $presetName) $weightsGB (gt $weightsGB (mul $count (int $g.memoryGB))) -}}
  {{- fail (printf "custom model %s (about %d GB of weights) does not fit in %d x %s (%d GB of GPU memory): raise gpu.count or choose a larger gpu.type" $id $weightsGB $count $gpuName (mul $count (int $g.memoryGB))) -}}
{{- end -}}
{{- $shape := index $g.shapes (toString $count) -}}
{{- $eph := $shape.ephemeralStorage -}}
{{- if and $fit $fit.ephemeralStorage -}}
  {{- if gt (include "vllm-llama.gi" $fit.ephemeralStorage | int) (include "vllm-llama.gi" $eph | int) }}{{ $eph = $fit.ephemeralStorage }}{{ end -}}
{{- else if and (not $presetName) $weightsGB (eq $v.cache.type "emptyDir") -}}
  {{- /* A custom model's weights land in the emptyDir, which counts against ephemeral storage: the weights, a quarter more for the download, and 50Gi for the image and logs. */ -}}
  {{- $need := add $weightsGB (div $weightsGB 4) 50 -}}
  {{- if gt $need (include "vllm-llama.gi" $eph | int) }}{{ $eph = printf "%dGi" $need }}{{ end -}}
{{- end -}}
{{- $r := $v.resources -}}
{{- $cpu := $r.cpu | default $shape.cpu | toString -}}
{{- $mem := $r.memory | default $shape.memory -}}
{{- $eph = $r.ephemeralStorage | default $eph -}}
{{- /* Image version: the x.y.z prefix of the tag, or the appVersion's. */ -}}
{{- $tag := include "vllm-llama.imageTag" . -}}
{{- $ver := regexFind `^v?[0-9]+\.[0-9]+\.[0-9]+` $tag | trimPrefix "v" -}}
{{- $fallback := false -}}
{{- if not $ver -}}
  {{- $ver = regexFind `^v?[0-9]+\.[0-9]+\.[0-9]+` .Chart.AppVersion | trimPrefix "v" -}}
  {{- $fallback = true -}}
{{- end -}}
{{- /* vLLM arguments, in the tutorial's order. */ -}}
{{- $args := list "--host=0.0.0.0" "--port=7080" -}}
{{- if and (int ($v.swapSpace | default 0)) (include "vllm-llama.flagAllowed" (dict "flag" "swap-space" "version" $ver "flags" $flags)) -}}
  {{- $args = append $args (printf "--swap-space=%d" (int $v.swapSpace)) -}}
{{- end -}}
{{- $maxLen := int ($v.maxModelLen | default 0) | default (int ($fit.maxModelLen | default 0)) -}}
{{- if $maxLen }}{{ $args = append $args (printf "--max-model-len=%d" $maxLen) }}{{ end -}}
{{- $gmu := $m.gpuMemoryUtilization | default $fit.gpuMemoryUtilization -}}
{{- if $gmu -}}
  {{- $s := printf "%.2f" (float64 $gmu) -}}
  {{- if ne (float64 $s) (float64 $gmu) }}{{ $s = printf "%v" (float64 $gmu) }}{{ end -}}
  {{- $args = append $args (printf "--gpu-memory-utilization=%s" $s) -}}
{{- end -}}
{{- $mm := $m.limitMMPerPrompt | default ($p.limitMMPerPrompt | default dict) -}}
{{- if $mm }}{{ $args = append $args "--limit-mm-per-prompt" }}{{ $args = append $args (toJson $mm) }}{{ end -}}
{{- if $v.disableLogStats }}{{ $args = append $args "--disable-log-stats" }}{{ end -}}
{{- $dtype := $m.dtype | default $fit.dtype -}}
{{- if $dtype }}{{ $args = append $args (printf "--dtype=%s" $dtype) }}{{ end -}}
{{- $kvd := $m.kvCacheDtype | default $fit.kvCacheDtype -}}
{{- if $kvd }}{{ $args = append $args (printf "--kv-cache-dtype=%s" $kvd) }}{{ end -}}
{{- $seqs := int ($m.maxNumSeqs | default 0) | default (int ($fit.maxNumSeqs | default 0)) -}}
{{- if $seqs }}{{ $args = append $args (printf "--max-num-seqs=%d" $seqs) }}{{ end -}}
{{- $args = append $args (printf "--model=%s" $id) -}}
{{- $tp := int ($m.tensorParallelSize | default 0) | default $count -}}
{{- if gt $tp $count -}}
  {{- fail (printf "model.tensorParallelSize %d exceeds the pod's %d GPUs (gpu.count): vLLM runs one tensor-parallel rank per GPU; lower it or raise gpu.count" $tp $count) -}}
{{- end -}}
{{- $args = append $args (printf "--tensor-parallel-size=%d" $tp) -}}
{{- if $v.apiKey.enabled }}{{ $args = append $args "--api-key=$(VLLM_API_KEY)" }}{{ end -}}
{{- range $v.extraArgs -}}
  {{- $a := toString . -}}
  {{- if hasPrefix "--" $a -}}
    {{- $flag := trimPrefix "--" $a | splitList "=" | first | replace "_" "-" -}}
    {{- if and (hasKey $flags $flag) (not (include "vllm-llama.flagAllowed" (dict "flag" $flag "version" $ver "flags" $flags))) -}}
    {{- fail (printf "extraArgs: --%s is not accepted by vLLM %s (image tag %s): %s" $flag $ver $tag (index $flags $flag).why) -}}
    {{- end -}}
  {{- end -}}
  {{- $args = append $args $a -}}
{{- end -}}
{{- /* Startup budget: derived from the weight size unless given. */ -}}
{{- $st := $v.probes.startup -}}
{{- $period := int $st.periodSeconds -}}
{{- $ft := int ($st.failureThreshold | default 0) -}}
{{- if not $ft -}}
  {{- $budget := add (int $st.baseSeconds) (mul (int $st.secondsPerGB) $weightsGB) -}}
  {{- $ft = div (add $budget $period -1) $period -}}
{{- end -}}
{{- $name := $m.name | default "" -}}
{{- if not $name -}}
  {{- if and $presetName (not $m.id) }}{{ $name = $p.name }}{{ else }}{{ $name = $id | splitList "/" | last }}{{ end -}}
{{- end -}}
{{- $name = regexReplaceAll `[^A-Za-z0-9._-]` $name "-" | trunc 63 | trimAll "-._" -}}
{{- toJson (dict
  "preset" $presetName "id" $id "name" $name
  "gpu" $gpuName "accelerator" $g.accelerator "count" $count
  "cpu" $cpu "memory" $mem "ephemeralStorage" $eph
  "weightsGB" $weightsGB "startupFailureThreshold" (int $ft)
  "tag" $tag "version" $ver "versionFallback" $fallback "args" $args) -}}
{{- end }}

{{/*
"true" when a catalog vllmFlags flag is accepted by vLLM version .version
(addedIn <= version < removedIn); "" otherwise. Flags not in the table are
always accepted. Args: dict "flag" "version" "flags".
*/}}
{{- define "vllm-llama.flagAllowed" -}}
{{- $f := index .flags .flag -}}
{{- $ok := true -}}
{{- if $f -}}
  {{- if and $f.removedIn (not (semverCompare (printf "<%s" $f.removedIn) .version)) }}{{ $ok = false }}{{ end -}}
  {{- if and $f.addedIn (not (semverCompare (printf ">=%s" $f.addedIn) .version)) }}{{ $ok = false }}{{ end -}}
{{- end -}}
{{- if $ok }}true{{ end -}}
{{- end }}

{{/* A catalog quantity ("600Gi", "1Ti") in Gi, to compare sizes. */}}
{{- define "vllm-llama.gi" -}}
{{- if hasSuffix "Ti" . }}{{ mul (trimSuffix "Ti" . | int) 1024 }}{{ else if hasSuffix "Gi" . }}{{ trimSuffix "Gi" . | int }}{{ else }}{{ fail (printf "catalog.yaml: quantity %q must be in Gi or Ti" .) }}{{ end -}}
{{- end }}
