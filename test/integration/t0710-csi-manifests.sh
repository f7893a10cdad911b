#!/bin/bash
# The Kubernetes deployment (csi/deploy) checked offline, with no cluster
# and no Docker: test/csi/validate-manifests.mjs validates every manifest
# against the Kubernetes schemas (kubernetes-models, from npm) and by hand
# for the snapshot CRDs and kustomization.yaml, flags unknown fields,
# applies our own rules (resources, probes, privileges, mount propagation,
# labels, one image tag, kustomization lists), checks every flag a t9kfs
# container passes against the binary's --help, and checks the Dockerfile
# against Debian 12 (packages exist; the binary's libraries are installed).
# Then it must reject broken copies, each with the file and rule named.
. "$(dirname "$0")/lib.sh"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	skip_all "node and npm are not installed (Debian: nodejs npm)"
fi
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
	skip_all "node $(node --version) is older than 20"
grep -q '^VERSION_ID="12"' /etc/os-release 2>/dev/null ||
	skip_all "the Dockerfile is checked against Debian 12's packages: not Debian 12 here"
if ! apt-cache policy libc6 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	[ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1
	apt-cache policy libc6 2>/dev/null | grep -q 'Candidate: [0-9]' ||
		skip_all "no Debian package lists (run apt-get update)"
fi

# kubernetes-models@5 and yaml@2, once, into the git-ignored build/.
NPM="$TOP/build/npm"
have_module() { # NAME MAJOR
	[ "$(node -p "require('$NPM/node_modules/$1/package.json').version.split('.')[0]" 2>/dev/null)" = "$2" ]
}
if ! have_module kubernetes-models 5 || ! have_module yaml 2; then
	mkdir -p "$NPM"
	npm install --prefix "$NPM" --no-save --no-audit --no-fund --fetch-retries 1 --fetch-timeout 30000 \
		kubernetes-models@5 yaml@2 \
		>"$TEST_DIR/npm.log" 2>&1 ||
		skip_all "npm could not install kubernetes-models@5 and yaml@2: $(grep -m1 -i err "$TEST_DIR/npm.log" || tail -n 1 "$TEST_DIR/npm.log")"
fi

validate() { # DIR: all the checks, each on one line
	node "$TOP/test/csi/validate-manifests.mjs" --modules "$NPM/node_modules" --bin "$T9KFS_BIN" "$@"
}

# The real deployment: one run, its lines sorted into the tests below.
rc=0
validate "$TOP/csi/deploy" >"$TEST_DIR/deploy.out" 2>&1 || rc=$?
say "# $(tail -n 1 "$TEST_DIR/deploy.out")"
failures() { # GREP-ARGS: the FAIL lines of the deployment's run that match
	grep "^FAIL" "$TEST_DIR/deploy.out" | grep "$@" || true
}

test_expect_success 'the validator ran over every manifest and the Dockerfile' '
	tail -n 1 deploy.out | grep -q "^validate-manifests: [0-9]* checks" &&
	for f in "$TOP"/csi/deploy/*.yaml "$TOP"/csi/deploy/examples/*.yaml; do
		rel=${f#"$TOP"/csi/deploy/}
		grep -q "^ok   $rel: one object per file" deploy.out || { echo "$rel not checked"; exit 1; }
	done &&
	grep -q "^ok   Dockerfile: final stage is debian:12-slim" deploy.out
'

test_expect_success 'manifests: schemas, fields, labels, resources, probes, privileges, references' '
	fails=$(failures -v -e "^FAIL Dockerfile:" -e "flags of") &&
	{ [ -z "$fails" ] || { echo "$fails"; exit 1; }; }
'

# Fails until the binary has every command the manifests run (t9kfs csi).
test_expect_success 't9kfs containers pass only flags that their command'"'"'s --help lists' '
	fails=$(failures -e "flags of") &&
	{ [ -z "$fails" ] || { echo "$fails"; exit 1; }; }
'

test_expect_success 'Dockerfile: Debian 12 packages; the binary'"'"'s libraries installed' '
	grep -q "^ok   Dockerfile: library libfuse3.so.3 comes from libfuse3-3" deploy.out &&
	fails=$(failures -e "^FAIL Dockerfile:") &&
	{ [ -z "$fails" ] || { echo "$fails"; exit 1; }; }
'

test_expect_success 'the validator exits 0 on the deployment' '
	[ $rc = 0 ] || { failures -e .; exit 1; }
'

# ---- A broken copy: each bad object must fail, naming its file and rule.

BAD="$TEST_DIR/bad"
cp -r "$TOP/csi/deploy" "$BAD"
pod() { # NAME [CONTAINER-EDIT] [EXTRA-CONTAINER-LINES]: a Pod of one container
	local name=$1 edit=${2:-} extra=${3:-}
	sed -e "$edit" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: t9kfs
  labels:
    app.kubernetes.io/name: t9kfs
    app.kubernetes.io/component: test
    app.kubernetes.io/part-of: t9kfs
spec:
  containers:
    - name: app
      image: registry.k8s.io/pause:3.9
      livenessProbe:
        tcpSocket:
          port: 80
      securityContext:
        allowPrivilegeEscalation: false
        capabilities:
          drop: [ALL]
      resources:
        requests: {cpu: 10m, memory: 16Mi}
        limits: {cpu: 100m, memory: 64Mi}
$extra
EOF
}
MOUNT='      volumeMounts:
        - name: kubelet-dir
          mountPath: /var/lib/kubelet
  volumes:
    - name: kubelet-dir
      hostPath:
        path: /var/lib/kubelet'
pod no-limits '/limits:/d' >"$BAD/bad-limits.yaml"
pod node 's/name: app/name: csi-node/; s/allowPrivilegeEscalation: false/privileged: true/' "$MOUNT" \
	>"$BAD/bad-propagation.yaml"
pod field 's/mountPath:.*/&\n          readonly: true/' "$MOUNT" >"$BAD/bad-field.yaml"
pod flag 's|image: .*|image: ghcr.io/t9kfs/t9kfs:0.1.0\n      args: [meta, serve, --db, /x, --no-such-flag]|' \
	>"$BAD/bad-flag.yaml"
pod priv 's/allowPrivilegeEscalation: false/privileged: true/' >"$BAD/bad-privileged.yaml"
{ pod one; echo ---; pod two; } >"$BAD/bad-two.yaml"
sed -i 's/^provisioner: .*/provisioner: other.csi.example.com/' "$BAD/storageclass.yaml"
sed -i 's/^  - csidriver.yaml$/&\n  - no-such-file.yaml/' "$BAD/kustomization.yaml"
sed -i 's/mountPropagation: HostToContainer/mountPropagation: None/' "$BAD/examples/pod-inline.yaml"
sed -i 's/^FROM debian:12-slim$/FROM debian:12/; s/ util-linux / util-linux no-such-package-t9kfs /; s/ libcurl4 / /' \
	"$BAD/Dockerfile"
bad_rc=0
validate "$BAD" >"$TEST_DIR/bad.out" 2>&1 || bad_rc=$?

expect_fail() { # TEXT: bad.out has the line "FAIL TEXT..."
	grep -qF -- "FAIL $1" "$TEST_DIR/bad.out" ||
		{ echo "no 'FAIL $1' in:"; grep "^FAIL" "$TEST_DIR/bad.out"; return 1; }
}

test_expect_success 'broken copy: the validator exits 1' '
	[ $bad_rc = 1 ]
'

test_expect_success 'broken: a container without limits' '
	expect_fail "bad-limits.yaml: container app: resources: no limits.cpu; no limits.memory"
'

test_expect_success 'broken: a node plugin without Bidirectional propagation' '
	expect_fail "bad-propagation.yaml: container csi-node: /var/lib/kubelet mount is Bidirectional: mountPropagation is None"
'

test_expect_success 'broken: an unknown field (readonly for readOnly)' '
	expect_fail "bad-field.yaml: unknown fields: Pod.spec.containers[app].volumeMounts[kubelet-dir].readonly is not a field"
'

test_expect_success 'broken: a flag that t9kfs meta serve --help does not list' '
	expect_fail "bad-flag.yaml: container app: flags of '"'"'t9kfs meta serve'"'"' are in its --help: --no-such-flag is not in"
'

test_expect_success 'broken: a privileged container other than csi-node and mounter' '
	expect_fail "bad-privileged.yaml: container app: privileged only for csi-node and mounter: privileged: true"
'

test_expect_success 'broken: two objects in one file' '
	expect_fail "bad-two.yaml: one object per file: 2 objects"
'

test_expect_success 'broken: kustomization.yaml names a missing file and misses others' '
	expect_fail "kustomization.yaml: lists every manifest, each existing, no example: no-such-file.yaml does not exist" &&
	grep -F "FAIL kustomization.yaml:" bad.out | grep -qF "bad-limits.yaml is not listed"
'

test_expect_success 'broken: a StorageClass of another driver' '
	expect_fail "storageclass.yaml: provisioner is the CSIDriver'"'"'s name: other.csi.example.com is not csi.t9kfs.io"
'

test_expect_success 'broken: an example pod without HostToContainer' '
	expect_fail "examples/pod-inline.yaml: container train: t9kfs volumes use HostToContainer: /data: mountPropagation is None"
'

test_expect_success 'broken Dockerfile: not slim, an unknown package, a library not installed' '
	expect_fail "Dockerfile: final stage is debian:12-slim: final stage is debian:12" &&
	expect_fail "Dockerfile: package no-such-package-t9kfs (stage 1) is in Debian 12: apt-cache policy shows no candidate" &&
	expect_fail "Dockerfile: library libcurl.so.4 comes from libcurl4: libcurl4 is not installed"
'

test_done
