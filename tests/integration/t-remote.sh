#!/bin/bash
# Remote hosts, for real. Two "hosts" are built on this machine: each is a
# network namespace (veth pair, private address) plus a mount namespace with
# its own sshd (own host key) and its own libvirtd (own /run/libvirt,
# /var/lib/libvirt, /etc/libvirt, and its own ~/.cache, so the local kernels
# are not visible there). kfarm reaches them only over libssh and
# qemu+libssh:// URIs. Host B has no qemu-system-aarch64.
#
# Checks: host keys (unknown, trusted, changed), unreachable host, missing
# QEMU, libvirt down, a matrix spread over both hosts (timed against one
# host), libvirt vs direct QEMU giving the same results, one host killed
# mid-run (every job completes exactly once), an upload cut off half way
# (nothing half-written used), session mode for an unprivileged user.
# Needs root and: libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
# openssh-server iproute2.
. "$(dirname "$0")/lib.sh"
echo "t-remote: kfarm over libssh + libvirt to two namespace hosts"

for c in ip unshare nsenter setpriv sshd libvirtd virt-ssh-helper ssh-keygen tc sha256sum; do
	command -v "$c" >/dev/null || PATH=$PATH:/usr/sbin command -v "$c" >/dev/null || {
		bad "missing '$c' (packages: libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients openssh-server iproute2)"
		finish; exit 1; }
done
PATH=$PATH:/usr/sbin
[ "$(id -u)" = 0 ] || { bad "needs root (network namespaces)"; finish; exit 1; }
IMG=$(default_image x86_64 6.1)
[ -n "$IMG" ] || { bad "no x86_64 6.1 default kernel (make images)"; finish; exit 1; }

# a 10.N.0.0/16 no route on this machine uses yet (other runs of this test too)
for n in $(seq $((100 + $$ % 100)) 250) $(seq 100 250); do
	ip route | grep -q "^10\.$n\." || { NET=10.$n; break; }
done
NSP=kft$$
CAPS=${XDG_CACHE_HOME:-$HOME/.cache}/kfarm-it/libvirt-qemu-caps	# libvirtd's QEMU probe results
mkdir -p "$CAPS" /root/.cache /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/client_key"
cp "$T/client_key.pub" "$T/authorized_keys"

# host_start I [nolibvirt] [missing-binary...]: host I at $NET.I.2
host_start() {
	local i=$1 nolv=0; shift
	[ "${1:-}" = nolibvirt ] && { nolv=1; shift; }
	local d=$T/host$i ns=$NSP-$i
	mkdir -p "$d"/{etc-libvirt,home-cache,run-libvirt,var-lib,var-cache/qemu/capabilities,var-log,log}
	[ -f "$d/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
	cp -n "$CAPS"/*.xml "$d/var-cache/qemu/capabilities/" 2>/dev/null
	printf 'unix_sock_rw_perms = "0777"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\nlog_outputs = "3:file:%s/log/libvirtd.log"\n' \
		"$d" >"$d/etc-libvirt/libvirtd.conf"
	printf 'user = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\nsecurity_driver = "none"\nstdio_handler = "file"\n' \
		>"$d/etc-libvirt/qemu.conf"
	cat >"$d/sshd_config" <<-EOF
	ListenAddress $NET.$i.2
	HostKey $d/hostkey
	PidFile $d/sshd.pid
	AuthorizedKeysFile $T/authorized_keys
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	Subsystem sftp /usr/lib/openssh/sftp-server
	EOF
	cp /etc/passwd "$d/passwd"; cp /etc/group "$d/group"
	# what libvirt-daemon-system would add, plus a user for session mode
	grep -q '^libvirt-qemu:' "$d/passwd" || echo 'libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin' >>"$d/passwd"
	grep -q '^libvirt-qemu:' "$d/group" || echo 'libvirt-qemu:x:64055:' >>"$d/group"
	echo "kfsess:x:64999:64999::$T/sess:/bin/sh" >>"$d/passwd"; echo 'kfsess:x:64999:' >>"$d/group"
	ip netns add "$ns" || return 1
	ip link add "${NSP}o$i" type veth peer name "${NSP}i$i" || return 1
	ip link set "${NSP}i$i" netns "$ns"
	ip addr add "$NET.$i.1/24" dev "${NSP}o$i"; ip link set "${NSP}o$i" up
	ip netns exec "$ns" ip addr add "$NET.$i.2/24" dev "${NSP}i$i"
	ip netns exec "$ns" ip link set "${NSP}i$i" up
	ip netns exec "$ns" ip link set lo up
	: >"$d/missing"
	ip netns exec "$ns" unshare --mount --propagation private bash -c '
		set -e; d=$1; nolv=$2; shift 2
		mount --bind "$d/etc-libvirt" /etc/libvirt
		mount --bind "$d/passwd" /etc/passwd; mount --bind "$d/group" /etc/group
		mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
		mount --bind "$d/run-libvirt" /run/libvirt
		mount --bind "$d/var-lib" /var/lib/libvirt
		mount --bind "$d/var-cache" /var/cache/libvirt
		mount --bind "$d/var-log" /var/log/libvirt
		mount --bind "$d/home-cache" /root/.cache
		for b in "$@"; do mount --bind "$d/missing" "/usr/bin/$b"; done
		[ "$nolv" = 1 ] || libvirtd -d -p "$d/libvirtd.pid"
		exec /usr/sbin/sshd -f "$d/sshd_config" -E "$d/log/sshd.log"' - "$d" "$nolv" "$@" || return 1
	for _ in $(seq 100); do
		timeout 1 bash -c "</dev/tcp/$NET.$i.2/22" 2>/dev/null &&
			{ [ $nolv = 1 ] || [ -S "$d/run-libvirt/libvirt-sock" ]; } && return 0
		sleep 0.1
	done
	return 1
}
host_kill() { # everything in the namespace, ssh side first (like a crash)
	local ns=$NSP-$1 p
	p=$(ip netns pids "$ns" 2>/dev/null) || return 0
	for x in $p; do case $(cat /proc/$x/comm 2>/dev/null) in sshd|sftp-server|virt-ssh-helpe*) kill -9 "$x" 2>/dev/null;; esac; done
	sleep 0.2
	p=$(ip netns pids "$ns" 2>/dev/null); [ -n "$p" ] && kill -9 $p 2>/dev/null
	for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
	ip netns del "$ns" 2>/dev/null
	ip link del "${NSP}o$1" 2>/dev/null
	return 0
}
ns_qemus() { # ns_qemus I WORD: QEMU processes in host I's namespace with WORD in their argv
	local n=0 x
	for x in $(ip netns pids "$NSP-$1" 2>/dev/null); do
		case $(cat /proc/$x/comm 2>/dev/null) in
		qemu-system*) tr '\0' ' ' </proc/$x/cmdline 2>/dev/null | grep -q -- "$2" && n=$((n + 1));;
		esac
	done
	echo $n
}
T0=$(date +%s)
phase() { echo "  -- $* (at $(( $(date +%s) - T0 ))s)"; }
remote_cleanup() {
	[ -n "${SSH_AGENT_PID:-}" ] && kill "$SSH_AGENT_PID" 2>/dev/null
	cp -n "$T"/host1/var-cache/qemu/capabilities/*.xml "$CAPS/" 2>/dev/null
	host_kill 1; host_kill 2
}
trap 'remote_cleanup; cleanup' EXIT

t0=$(date +%s.%N)
host_start 1 || { bad "host A did not come up"; finish; exit 1; }
if ! ls "$CAPS"/*.xml >/dev/null 2>&1; then
	# first run on this machine: libvirtd probes every QEMU binary once
	# (~40 s); let host A do it alone and give its results to host B
	echo "  (libvirtd probing the QEMU binaries once; cached in $CAPS)"
	nsenter -t "$(cat "$T/host1/sshd.pid")" -n -m -- virsh -c qemu:///system version >/dev/null
	cp "$T"/host1/var-cache/qemu/capabilities/*.xml "$CAPS/"
fi
host_start 2 qemu-system-aarch64 || { bad "host B did not come up"; finish; exit 1; }
echo "  hosts up in $(printf %.1f "$(echo "$(date +%s.%N) - $t0" | bc)")s"
A=$NET.1.2 B=$NET.2.2
hosts_file() { # hosts_file FILE KNOWN_HOSTS SLOTS NAME=ADDR[:PORT]...
	local f=$1 kh=$2 slots=$3 sep=; shift 3
	{ echo "{ \"known_hosts\": \"$kh\", \"hosts\": ["
	for h in "$@"; do
		local n=${h%%=*} a=${h#*=} p=22
		case $a in *:*) p=${a#*:}; a=${a%:*};; esac
		echo "$sep{ \"name\": \"$n\", \"address\": \"$a\", \"port\": $p, \"user\": \"root\", \"key\": \"$T/client_key\", \"slots\": $slots }"
		sep=,
	done; echo "] }"; } >"$f"
}
KH=$T/known_hosts
hosts_file "$T/h2.json" "$KH" 1 hostA="$A" hostB="$B"
fpA=$(ssh-keygen -lf "$T/host1/hostkey.pub" | awk '{print $2}')
fpB=$(ssh-keygen -lf "$T/host2/hostkey.pub" | awk '{print $2}')

# --- host keys: unknown refused, trusted explicitly, changed refused ---
phase "host keys: unknown refused, trusted explicitly, changed refused"
"$KFARM" hosts --hosts "$T/h2.json" >"$T/out" 2>&1; rc=$?
check "unknown host keys: exit 1 (rc=$rc)" test $rc = 1
check "unknown host key refused, host and fingerprint named" \
	grep -q "hostA.*$A:22.*unknown: ssh-ed25519 $fpA" "$T/out"
check "no known_hosts entry was written without --trust" test ! -s "$KH"
"$KFARM" hosts --hosts "$T/h2.json" --trust hostA >"$T/out" 2>&1
check "--trust hostA: key recorded, fingerprint printed" grep -q "trusted host key of host 'hostA'.*$fpA" "$T/out"
check "--trust hostA does not trust hostB" grep -q "hostB.*unknown" "$T/out"
"$KFARM" hosts --hosts "$T/h2.json" --trust hostB >"$T/out" 2>&1; rc=$?
check "both trusted: kfarm hosts exit 0 (rc=$rc)" test $rc = 0
sed 's/^/    /' "$T/out"
check "host A runs all five arches" grep -Eq "^hostA +up +1 +1 +alpha arm64 riscv64 sparc64 x86_64" "$T/out"
check "host B cannot run arm64, says why" grep -q "hostB: cannot run arm64: qemu-system-aarch64 not found" "$T/out"
"$KFARM" hosts --hosts "$T/h2.json" --json >"$T/hosts.json"
jcheck "kfarm hosts --json: both up, free slots, QEMU versions" \
	'[.hosts[] | .up] == [true, true] and (.hosts[0].free == 1) and (.hosts[0].arches[0].version | test("QEMU"))' "$T/hosts.json"

# no "key": ssh-agent (for kfarm's libssh and libvirt's alike)
eval "$(ssh-agent -s)" >/dev/null && ssh-add -q "$T/client_key" 2>/dev/null
sed 's/"key": "[^"]*", //' "$T/h2.json" >"$T/agent.json"
"$KFARM" run --db "$T/agent.db" --hosts "$T/agent.json" --kernel "x86_64=$IMG:agent" --tests sysinfo \
	--append "$TOKEN" --json >"$T/agent.out" 2>"$T/agent.err"; rc=$?
ssh-agent -k >/dev/null 2>&1; unset SSH_AUTH_SOCK SSH_AGENT_PID
[ $rc = 0 ] || sed "s/^/    /" "$T/agent.err"
check "no key file: ssh-agent authenticates SSH and libvirt, job COMPLETE (rc=$rc)" \
	test $rc = 0 -a "$(jq -r '.jobs[0].outcome' "$T/agent.out")" = COMPLETE
check "the hosts file really had no key" bash -c '! grep -q "\"key\"" "$1"' - "$T/agent.json"

ssh-keygen -q -t ed25519 -N '' -f "$T/impostor"
echo "$A $(cut -d' ' -f1,2 "$T/impostor.pub")" >"$T/kh-changed"
hosts_file "$T/changed.json" "$T/kh-changed" 1 hostA="$A"
"$KFARM" hosts --hosts "$T/changed.json" --trust hostA >"$T/out" 2>&1; rc=$?
check "changed host key refused even with --trust (rc=$rc)" test $rc = 1
check "changed key: host and offered fingerprint named" grep -q "hostA.*has CHANGED: it offers ssh-ed25519 $fpA" "$T/out"
"$KFARM" run --hosts "$T/changed.json" --db "$T/changed.db" --kernel "x86_64=$IMG:x" --append "$TOKEN" >"$T/out" 2>&1; rc=$?
check "run with only a changed-key host: exit 3, nothing written (rc=$rc)" test $rc = 3 -a ! -e "$T/changed.db"

# --- unreachable host, missing QEMU, libvirt down ---
phase "unreachable host, missing QEMU, libvirt down"
hosts_file "$T/ghost.json" "$KH" 1 ghost="$A:2222" hostA="$A"
"$KFARM" hosts --hosts "$T/ghost.json" >"$T/out" 2>&1
check "unreachable host: clear error" grep -q "ghost: unusable: ssh: cannot connect to host 'ghost' ($A:2222).*refused" "$T/out"
hosts_file "$T/onlyB.json" "$KH" 1 hostB="$B"
"$KFARM" run --hosts "$T/onlyB.json" --db "$T/x.db" --kernel "arm64=$(default_image arm64 6.1):x" --append "$TOKEN" >"$T/out" 2>&1; rc=$?
check "arm64 on a host without qemu-system-aarch64: exit 3, says so (rc=$rc)" \
	grep -q "no usable host can run arm64.*no qemu-system-aarch64" "$T/out"

# --- libvirt vs direct QEMU: the same kernels give the same results ---
phase "libvirt vs direct QEMU: the same kernels give the same results"
arches=()
for a in x86_64 arm64 riscv64; do
	[ -n "$(default_image $a 6.1)" ] && [ -f "$KFARM_CACHE/initramfs/$a.json" ] && arches+=("$a")
done
K=(); for a in "${arches[@]}"; do K+=(--kernel "$a=$(default_image $a 6.1):same"); done
"$KFARM" run --db "$T/q.db" -j 2 "${K[@]}" --append "$TOKEN" --json >"$T/q.json" 2>/dev/null
"$KFARM" run --db "$T/l.db" --hosts "$T/h2.json" "${K[@]}" --append "$TOKEN" --json >"$T/l.json" 2>"$T/l.err"
set_of() { jq -r '.jobs[] | .arch as $a | .outcome as $o | ("\($a) job \($o)"), (.results[] | "\($a) \(.test) \(.status)")' "$1" | sort; }
check "libvirt backend: same KTAP result set as direct QEMU (${arches[*]}, $(set_of "$T/q.json" | wc -l) lines)" \
	test "$(set_of "$T/q.json")" = "$(set_of "$T/l.json")"
jcheck "libvirt run: every job COMPLETE" '[.jobs[] | .outcome] | all(. == "COMPLETE")' "$T/l.json"
check "libvirt jobs booted the uploaded copies (cache on the host), backend and host recorded" \
	test "$(sql "$T/l.db" "SELECT count(*) FROM jobs WHERE backend='libvirt' AND host IN ('hostA','hostB') AND qemu_cmdline LIKE '%/.cache/kfarm-remote/sha256/%'")" = "${#arches[@]}"
check "arm64 ran on host A only" test "$(sql "$T/l.db" "SELECT group_concat(DISTINCT host) FROM jobs WHERE arch='arm64'")" = "${arches[1]:+hostA}"
"$KFARM" run --db "$T/u.db" --backend libvirt \
	--libvirt-uri "qemu+libssh://root@$B/system?keyfile=$T/client_key&known_hosts=$KH&sshauth=privkey" \
	--kernel "x86_64=$IMG:uri" --tests sysinfo --append "$TOKEN" --json >"$T/u.json" 2>/dev/null
jcheck "--backend libvirt --libvirt-uri qemu+libssh://...: COMPLETE on that host" \
	".jobs[0].outcome == \"COMPLETE\" and .jobs[0].host == \"$B\"" "$T/u.json"

# --- the same matrix on two hosts and on one ---
phase "the same matrix on two hosts and on one"
M=()
for a in "${arches[@]}"; do for v in 6.1 6.12; do
	img=$(default_image $a $v); [ -n "$img" ] || continue
	for r in a b; do M+=(--kernel "$a=$img:$v-$r"); done
done; done
nm=$((${#M[@]} / 2))
hosts_file "$T/h1.json" "$KH" 1 hostA="$A"
s=$(date +%s.%N)
"$KFARM" run --db "$T/one.db" --hosts "$T/h1.json" "${M[@]}" --tests sysinfo,clone3,fork --append "$TOKEN" --json >"$T/one.json" 2>/dev/null
one=$(echo "$(date +%s.%N) - $s" | bc)
s=$(date +%s.%N)
"$KFARM" run --db "$T/two.db" --hosts "$T/h2.json" "${M[@]}" --tests sysinfo,clone3,fork --append "$TOKEN" --json >"$T/two.json" 2>/dev/null
two=$(echo "$(date +%s.%N) - $s" | bc)
perhost=$(jq -r '[.jobs[] | .host] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' "$T/two.json")
echo "  matrix of $nm jobs: one host (1 slot) $(printf %.1f "$one")s, two hosts (1 slot each) $(printf %.1f "$two")s; jobs per host: $perhost"
jcheck "one host: all $nm COMPLETE" "[.jobs[] | select(.outcome == \"COMPLETE\")] | length == $nm" "$T/one.json"
jcheck "two hosts: all $nm COMPLETE" "[.jobs[] | select(.outcome == \"COMPLETE\")] | length == $nm" "$T/two.json"
jcheck "two hosts: both did work" '[.jobs[] | .host] | unique == ["hostA", "hostB"]' "$T/two.json"
check "two hosts faster than one ($(printf %.1f "$two")s vs $(printf %.1f "$one")s)" \
	test "$(echo "$two < 0.85 * $one" | bc)" = 1

# --- kfarm SIGKILLed: the hosts' libvirtd destroy its domains (auto-destroy) ---
phase "kfarm SIGKILLed: the hosts' libvirtd destroy its domains"
"$KFARM" run --db "$T/k9.db" --hosts "$T/h2.json" --kernel "x86_64=$IMG:k9a" --kernel "x86_64=$IMG:k9b" \
	--append "$TOKEN kfit.phase=k9" >/dev/null 2>&1 &
kp=$!
for _ in $(seq 300); do [ $(( $(ns_qemus 1 kfit.phase=k9) + $(ns_qemus 2 kfit.phase=k9) )) -ge 2 ] && break; sleep 0.1; done
k9n=$(( $(ns_qemus 1 kfit.phase=k9) + $(ns_qemus 2 kfit.phase=k9) ))
kill -9 $kp; wait $kp 2>/dev/null
for _ in $(seq 100); do
	[ $(( $(ns_qemus 1 kfit.phase=k9) + $(ns_qemus 2 kfit.phase=k9) )) = 0 ] && break; sleep 0.1
done
check "kfarm killed with $k9n VMs on the hosts: none left there" \
	test "$k9n" -ge 2 -a $(( $(ns_qemus 1 kfit.phase=k9) + $(ns_qemus 2 kfit.phase=k9) )) = 0

# --- host B killed mid-run: every job completes exactly once ---
phase "host B killed mid-run: every job completes exactly once"
# the whole suite this time, so that jobs are in flight on B when it dies
hosts_file "$T/h22.json" "$KH" 2 hostA="$A" hostB="$B"
M6=(); for a in "${arches[@]}"; do for r in a b; do M6+=(--kernel "$a=$(default_image $a 6.1):k-$r"); done; done
nm=$((${#M6[@]} / 2))
ntests=$(jq '.tests | length' "$KFARM_CACHE/initramfs/x86_64.json")
"$KFARM" run --db "$T/kill.db" --hosts "$T/h22.json" "${M6[@]}" --append "$TOKEN kfit.phase=kill" \
	--json >"$T/kill.json" 2>"$T/kill.err" &
kp=$!
for _ in $(seq 300); do [ "$(ns_qemus 2 kfit.phase=kill)" -ge 2 ] && break; sleep 0.1; done
sleep 2
inflight=$(ns_qemus 2 kfit.phase=kill)
host_kill 2
wait $kp; rc=$?
grep -E "down|lost" "$T/kill.err" | sed 's/^/    /'
check "host B killed with $inflight VM(s) in flight: kfarm exit 0 (rc=$rc)" test $rc = 0 -a "$inflight" -ge 1
check "host B marked down" grep -q "host hostB is down for this run" "$T/kill.err"
jcheck "every job COMPLETE" "[.jobs[] | select(.outcome == \"COMPLETE\")] | length == $nm" "$T/kill.json"
check "exactly one non-infrastructure attempt per job" \
	test "$(sql "$T/kill.db" "SELECT count(*) FROM jobs WHERE outcome != 'INFRA_ERROR'")" = "$nm" \
	-a "$(sql "$T/kill.db" "SELECT count(DISTINCT candidate_id) FROM jobs WHERE outcome != 'INFRA_ERROR'")" = "$nm"
lost=$(sql "$T/kill.db" "SELECT count(*) FROM jobs WHERE outcome = 'INFRA_ERROR'")
check "the $lost lost attempt(s): INFRA_ERROR on hostB, 'lost', no results kept" \
	test "$lost" -ge 1 -a "$(sql "$T/kill.db" "SELECT count(*) FROM jobs WHERE outcome = 'INFRA_ERROR' AND host = 'hostB' AND reason LIKE '%lost%'")" = "$lost" \
	-a "$(sql "$T/kill.db" "SELECT count(*) FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.outcome = 'INFRA_ERROR'")" = 0
check "no test result duplicated or missing" \
	test "$(sql "$T/kill.db" "SELECT count(*) FROM (SELECT j.candidate_id, r.test, count(*) n FROM results r JOIN jobs j ON j.id = r.job_id WHERE r.depth = 0 GROUP BY 1, 2) WHERE n != 1")" = 0 \
	-a "$(sql "$T/kill.db" "SELECT count(*) FROM results WHERE depth = 0")" = $((nm * ntests))
start_serve "$T/kill.db" && curl -s "$URL/api/runs/1" >"$T/api.json"; stop_serve
jcheck "the API says which host ran each job" \
	'[.. | objects | select(has("host")) | .host] | (length > 0 and all(. == "hostA" or . == "hostB"))' "$T/api.json"
check "re-queued jobs ran on host A" \
	test "$(sql "$T/kill.db" "SELECT count(*) FROM jobs WHERE attempt > 1 AND host != 'hostA'")" = 0
check "no QEMU left" no_qemu_left

# --- libvirt down, SSH up: a clear error ---
phase "libvirt down, SSH up: a clear error"
host_start 2 nolibvirt || bad "host B did not come back"
"$KFARM" hosts --hosts "$T/onlyB.json" >"$T/out" 2>&1
check "libvirt unreachable: host unusable, libvirt named" grep -q "hostB: unusable: libvirt: cannot connect to 'qemu+libssh://" "$T/out"
host_kill 2

# --- host B cut off the network mid-run (no RST: only keepalives tell) ---
phase "host B cut off the network mid-run (no RST: only keepalives tell)"
host_start 2 qemu-system-aarch64 || bad "host B did not come back"
"$KFARM" run --db "$T/part.db" --hosts "$T/h22.json" "${M6[@]}" --append "$TOKEN kfit.phase=partition" \
	--json >"$T/part.json" 2>"$T/part.err" &
kp=$!
for _ in $(seq 300); do [ "$(ns_qemus 2 kfit.phase=partition)" -ge 2 ] && break; sleep 0.1; done
sleep 2
inflight=$(ns_qemus 2 kfit.phase=partition)
ip link set "${NSP}o2" down
cut=$(date +%s.%N)
for _ in $(seq 300); do grep -q "host hostB is down" "$T/part.err" && break; sleep 0.1; done
noticed=$(echo "$(date +%s.%N) - $cut" | bc)
wait $kp; rc=$?
ip link set "${NSP}o2" up
grep -E "down|lost" "$T/part.err" | sed 's/^/    /'
check "partition with $inflight VM(s) in flight on B: noticed in $(printf %.1f "$noticed")s (keepalive), exit 0 (rc=$rc)" \
	test $rc = 0 -a "$inflight" -ge 1 -a "$(echo "$noticed < 20" | bc)" = 1
check "partition: B marked down for want of keepalive answers" grep -q "host hostB is down.*keepalive" "$T/part.err"
jcheck "partition: every job COMPLETE" "[.jobs[] | select(.outcome == \"COMPLETE\")] | length == $nm" "$T/part.json"
check "partition: exactly one non-infrastructure attempt per job, no results from lost attempts" \
	test "$(sql "$T/part.db" "SELECT count(DISTINCT candidate_id) || '/' || count(*) FROM jobs WHERE outcome != 'INFRA_ERROR'")" = "$nm/$nm" \
	-a "$(sql "$T/part.db" "SELECT count(*) FROM results r JOIN jobs j ON j.id = r.job_id WHERE j.outcome = 'INFRA_ERROR'")" = 0

# --- an upload cut off half way: re-queued, nothing half-written used ---
phase "an upload cut off half way: re-queued, nothing half-written used"
make_initrd "$T/small.cpio.gz" <<'C'
#include <stdio.h>
#include <sys/reboot.h>
#include <unistd.h>
int main(void) {
	printf("KTAP version 1\n# kfarm-init: stand-in guest\n1..2\nok 1 alpha\nnot ok 2 beta # fails on purpose\n");
	fflush(stdout); sleep(1); reboot(RB_AUTOBOOT); return 0; }
C
{ cat "$T/small.cpio.gz"; head -c $((24 << 20)) /dev/zero; } >"$T/big.cpio.gz"	# zeros: cpio padding
bighash=$(sha256sum "$T/big.cpio.gz" | cut -c1-64)
tc qdisc add dev "${NSP}o2" root tbf rate 40mbit burst 64kb latency 500ms
hosts_file "$T/BA.json" "$KH" 1 hostB="$B" hostA="$A"
"$KFARM" run --db "$T/up.db" --hosts "$T/BA.json" --kernel "x86_64=$IMG:upload" \
	--initramfs "x86_64=$T/big.cpio.gz" --tests alpha,beta --append "$TOKEN" --json >"$T/up.json" 2>"$T/up.err" &
kp=$!
part=
for _ in $(seq 200); do
	part=$(find "$T/host2/home-cache/kfarm-remote/sha256" -name "$bighash.part-*" -size +4M 2>/dev/null | head -1)
	[ -n "$part" ] && break
	sleep 0.05
done
for x in $(ip netns pids "$NSP-2"); do [ "$(cat /proc/$x/comm 2>/dev/null)" = sftp-server ] && kill -9 "$x"; done
wait $kp; rc=$?
grep -E "cut off|down" "$T/up.err" | sed 's/^/    /'
check "upload interrupted at $(stat -c %s "$part" 2>/dev/null) of $(stat -c %s "$T/big.cpio.gz") bytes" test -n "$part"
check "the job went to host A and completed there (rc=$rc: beta fails on purpose)" \
	test $rc = 1 -a "$(jq -r '.jobs[0] | "\(.outcome) \(.host) \(.attempts)"' "$T/up.json")" = "COMPLETE hostA 2"
check "the cut-off attempt is an infrastructure error naming the upload" \
	test "$(sql "$T/up.db" "SELECT count(*) FROM jobs WHERE outcome = 'INFRA_ERROR' AND host = 'hostB' AND reason LIKE '%upload%'")" = 1
check "no partial file under the cache name on host B" test ! -e "$T/host2/home-cache/kfarm-remote/sha256/$bighash"
tc qdisc del dev "${NSP}o2" root
"$KFARM" run --db "$T/up.db" --hosts "$T/onlyB.json" --kernel "x86_64=$IMG:upload" \
	--initramfs "x86_64=$T/big.cpio.gz" --tests alpha,beta --append "$TOKEN" --json >"$T/up2.json" 2>/dev/null
jcheck "next run: uploaded in full to host B, job COMPLETE there" '.jobs[0].outcome == "COMPLETE" and .jobs[0].host == "hostB"' "$T/up2.json"
check "host B's cached copy is complete (sha256 matches)" \
	test "$(sha256sum <"$T/host2/home-cache/kfarm-remote/sha256/$bighash" | cut -c1-64)" = "$bighash"

# --- a cached file of the right size but other bytes: uploaded again ---
phase "a cached file of the right size but other bytes: uploaded again"
cached=$T/host2/home-cache/kfarm-remote/sha256/$bighash
printf 'kfarm' | dd of="$cached" bs=1 conv=notrunc status=none	# the gzip magic gone, size kept
"$KFARM" run --db "$T/up.db" --hosts "$T/onlyB.json" --kernel "x86_64=$IMG:upload" \
	--initramfs "x86_64=$T/big.cpio.gz" --tests alpha,beta --append "$TOKEN" --json >"$T/up3.json" 2>/dev/null
jcheck "same size, other bytes in host B's cache: the job still boots the right initramfs (COMPLETE)" \
	'.jobs[0].outcome == "COMPLETE" and .jobs[0].host == "hostB"' "$T/up3.json"
check "host B's cached copy hashes to its name again" \
	test "$(sha256sum <"$cached" | cut -c1-64)" = "$bighash"

# --- a host that stops answering mid-upload: given up on by a second deadline ---
phase "a host that stops answering mid-upload: the run still ends"
{ cat "$T/small.cpio.gz"; head -c $((32 << 20)) /dev/zero; echo hang; } >"$T/hang.cpio.gz"
hanghash=$(sha256sum "$T/hang.cpio.gz" | cut -c1-64)
tc qdisc add dev "${NSP}o2" root tbf rate 40mbit burst 64kb latency 500ms
s=$(date +%s.%N)
"$KFARM" run --db "$T/hang.db" --hosts "$T/onlyB.json" --kernel "x86_64=$IMG:hang" --boot-timeout 3 \
	--initramfs "x86_64=$T/hang.cpio.gz" --tests alpha,beta --append "$TOKEN" --json >"$T/hang.json" 2>"$T/hang.err" &
kp=$!
for _ in $(seq 200); do
	[ -n "$(find "$T/host2/home-cache/kfarm-remote/sha256" -name "$hanghash.part-*" -size +2M 2>/dev/null)" ] && break
	sleep 0.05
done
ip link set "${NSP}o2" down	# nothing gets through any more, no RST
for _ in $(seq 1500); do kill -0 $kp 2>/dev/null || break; sleep 0.1; done
hung=0; kill -0 $kp 2>/dev/null && { hung=1; kill -9 $kp; }
wait $kp; rc=$?
el=$(echo "$(date +%s.%N) - $s" | bc)
ip link set "${NSP}o2" up
tc qdisc del dev "${NSP}o2" root
sql "$T/hang.db" "SELECT host || ': ' || outcome || ': ' || reason FROM jobs ORDER BY id" | sed 's/^/    /'
check "kfarm ended by itself in $(printf %.0f "$el")s (boot timeout 3 s, then at most 30 s more; rc=$rc)" \
	test $hung = 0 -a "$(echo "$el < 60" | bc)" = 1
check "the stuck attempt is an infrastructure error on host B, never a kernel TIMEOUT" \
	test "$(sql "$T/hang.db" "SELECT count(*) FROM jobs WHERE host = 'hostB' AND outcome = 'INFRA_ERROR'")" -ge 1 \
	-a "$(sql "$T/hang.db" "SELECT count(*) FROM jobs WHERE outcome != 'INFRA_ERROR'")" = 0
check "host B given up on for this run" grep -q "host hostB is down for this run" "$T/hang.err"

# --- session mode: an unprivileged user, qemu:///session on host A ---
phase "session mode: an unprivileged user, qemu:///session on host A"
mkdir -p "$T/sess/run" "$T/sess/.cache/libvirt/qemu/cache/capabilities"
cp "$IMG" "$T/sess/kernel"; cp "$T/small.cpio.gz" "$T/sess/initrd"
# the user's own copy of kfarm and its profiles: the checkout may sit under a
# directory only root can enter (CI's clone does)
cp "$KFARM" "$T/sess/kfarm"; cp -r "$TOP/arches" "$T/sess/arches"
cp "$CAPS"/*.xml "$T/sess/.cache/libvirt/qemu/cache/capabilities/" 2>/dev/null	# else a 40 s probe
chown -R 64999:64999 "$T/sess"; chmod 711 "$T"
nsenter -t "$(cat "$T/host1/sshd.pid")" -n -m -- setpriv --reuid 64999 --regid 64999 --clear-groups \
	env -i HOME="$T/sess" PATH=/usr/bin:/bin:/usr/sbin XDG_RUNTIME_DIR="$T/sess/run" \
	KFARM_ARCHES="$T/sess/arches" "$T/sess/kfarm" run --backend libvirt --libvirt-uri qemu:///session --db "$T/sess/s.db" \
	--kernel "x86_64=$T/sess/kernel:session" --initramfs "x86_64=$T/sess/initrd" --tests alpha,beta \
	--append "$TOKEN" --json >"$T/sess.json" 2>"$T/sess.err"
jcheck "qemu:///session as an unprivileged user: COMPLETE, alpha PASS, beta FAIL" \
	'.jobs[0].outcome == "COMPLETE" and ([.jobs[0].results[] | "\(.test)=\(.status)"] == ["alpha=PASS", "beta=FAIL"])' "$T/sess.json"
chmod 700 "$T"
check "no QEMU left" no_qemu_left
phase "done"
finish
