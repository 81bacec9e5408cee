#!/bin/bash
# Bad input: one clear line naming the thing and the problem, a non-zero exit,
# nothing half-written in the database, no QEMU left behind.
. "$(dirname "$0")/lib.sh"
echo "t-badinput: refusals of bad kernels, profiles, databases and ports"

IMG=$(default_image x86_64 6.1)
[ -n "$IMG" ] || { bad "no x86_64 6.1 default kernel (make images)"; finish; exit 1; }
DB=$T/b.db
"$KFARM" run --db "$DB" --kernel "x86_64=$IMG:seed" --tests sysinfo --append "$TOKEN" >/dev/null 2>&1
before=$(sql "$DB" "SELECT count(*) FROM runs")/$(sql "$DB" "SELECT count(*) FROM jobs")

# expect_err NAME PATTERN -- kfarm args...: exit 2, one stderr line matching
expect_err() {
	local name=$1 pat=$2; shift 3
	"$KFARM" "$@" >"$T/out" 2>"$T/err"; local rc=$?
	local lines; lines=$(wc -l <"$T/err")
	if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -qE -- "$pat" "$T/err"; then
		ok "$name: $(cat "$T/err")"
	else
		bad "$name: rc=$rc, stderr: $(head -3 "$T/err")"
	fi
}

expect_err "missing image" "cannot read kernel image '/nonexistent/bzImage': No such file" -- \
	run --db "$DB" --kernel x86_64=/nonexistent/bzImage
mkdir "$T/adir"
expect_err "unreadable image (a directory)" "cannot read kernel image '$T/adir'|not a kernel image" -- \
	run --db "$DB" --kernel "x86_64=$T/adir"
head -c 4096 /dev/urandom >"$T/random.bin"
expect_err "non-kernel file" "'$T/random.bin' is not a kernel image for x86_64" -- \
	run --db "$DB" --kernel "x86_64=$T/random.bin"
expect_err "wrong arch for the image" "'$IMG' is not a kernel image for alpha" -- \
	run --db "$DB" --kernel "alpha=$IMG"
expect_err "unknown arch" "unknown arch 'vax'" -- run --db "$DB" --kernel "vax=$IMG"
expect_err "unknown arch in --arch" "unknown arch 'vax'" -- run --db "$DB" --arch vax
mkdir "$T/arches"
cp "$TOP"/arches/*.json "$T/arches/"
printf '{ "arch": "x86_64", "console": "ttyS0", \n' >"$T/arches/x86_64.json"
KFARM_ARCHES=$T/arches expect_err "malformed profile" "malformed profile '$T/arches/x86_64.json': line" -- \
	run --db "$DB" --kernel "x86_64=$IMG"
expect_err "bad --kernel syntax" "--kernel wants ARCH=PATH" -- run --db "$DB" --kernel "$IMG"
expect_err "bad --jobs" "--jobs wants" -- run --db "$DB" --jobs 0
expect_err "bad --timeout" "invalid time 'soon'" -- run --db "$DB" --timeout soon
check "nothing was written by the refused runs" \
	test "$(sql "$DB" "SELECT count(*) FROM runs")/$(sql "$DB" "SELECT count(*) FROM jobs")" = "$before"

# corrupt and foreign databases
head -c 8192 /dev/urandom >"$T/corrupt.db"
cp "$T/corrupt.db" "$T/corrupt.orig"
expect_err "corrupt database" "database '$T/corrupt.db' is corrupt or not a database" -- \
	run --db "$T/corrupt.db" --kernel "x86_64=$IMG"
check "corrupt database left untouched" cmp -s "$T/corrupt.db" "$T/corrupt.orig"
expect_err "corrupt database (status)" "database '$T/corrupt.db' is corrupt" -- status --db "$T/corrupt.db"
# read-only: run kfarm as an unprivileged user (root writes through modes).
# It gets its own copy of kfarm and the profiles: CI's clone may sit under a
# directory only root can enter.
cp "$DB" "$T/ro.db"; chmod 0444 "$T/ro.db"; chmod 0755 "$T"
cp "$KFARM" "$T/kfarm"; cp "$IMG" "$T/bzImage"; chmod 0755 "$T/kfarm"; chmod 0644 "$T/bzImage"
cp -r "$TOP/arches" "$T/roarches"; chmod -R a+rX "$T/roarches"
setpriv --reuid=nobody --regid=nogroup --clear-groups env KFARM_DATA=$T HOME=$T KFARM_ARCHES=$T/roarches \
	"$T/kfarm" run --db "$T/ro.db" --kernel "x86_64=$T/bzImage" --initramfs "x86_64=$T/bzImage" \
	--tests sysinfo >/dev/null 2>"$T/err"
rc=$?
check "read-only database refused: $(cat "$T/err")" bash -c "[ $rc -ne 0 ] && grep -q \"database '$T/ro.db' is read-only\" '$T/err'"

# QEMU binary absent: an infrastructure error for the job, never a kernel failure
cp "$TOP"/arches/*.json "$T/arches/"
sed -i 's/"qemu-system-x86_64"/"qemu-system-x86_64-not-installed"/' "$T/arches/x86_64.json"
KFARM_ARCHES=$T/arches "$KFARM" run --db "$DB" --kernel "x86_64=$IMG:noqemu" --json >"$T/out" 2>"$T/err"
rc=$?
check "QEMU absent: exit 3 (rc=$rc)" test "$rc" -eq 3
jcheck "QEMU absent: job is INFRA_ERROR naming the binary" \
	'.jobs[0].outcome == "INFRA_ERROR" and (.jobs[0].reason | test("qemu-system-x86_64-not-installed.*not found"))' "$T/out"
jcheck "QEMU absent: retried once" '.jobs[0].attempts == 2' "$T/out"
check "QEMU absent: no test recorded as failed" \
	test "$(sql "$DB" "SELECT count(*) FROM results r JOIN jobs j ON j.id=r.job_id JOIN candidates c ON c.id=j.candidate_id WHERE c.label='noqemu'")" = 0

# port in use
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$T/port" &
holder=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")
expect_err "port in use" "cannot listen on 127.0.0.1:$port: Address already in use" -- \
	serve --db "$DB" --listen "127.0.0.1:$port"
kill $holder
expect_err "bad listen address" "invalid --listen" -- serve --db "$DB" --listen nowhere
expect_err "missing database (serve)" "cannot open database '$T/none.db'" -- serve --db "$T/none.db" --listen 127.0.0.1:0
check "no QEMU left" no_qemu_left
finish
