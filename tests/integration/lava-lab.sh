# A throwaway LAVA lab from Debian's packages, on loopback, for t-lava.sh.
# Sourced after lib.sh. Installs nothing: lava-server, lava-dispatcher and
# PostgreSQL come from `make deps`. Everything the lab writes is its own: a
# PostgreSQL database copied from the package's freshly migrated one, device
# dictionaries, job outputs and worker files under $LAB; settings reach every
# LAVA process through LAVA_*SETTINGS_* variables, /etc is never edited.
# lab_stop ends every process lab_start started (by pid) and drops the database.

LAB_PIDS=()
LAB_PG_STARTED=
LAB_DB=

lab_env() {
	local pw
	pw=$(python3 -c 'import yaml; print(yaml.safe_load(open("/etc/lava-server/settings.d/00-database.yaml"))["DATABASES"]["default"]["PASSWORD"])') || return 1
	export LAVA_YAML_SETTINGS_DATABASES="{default: {ENGINE: django.db.backends.postgresql, NAME: $LAB_DB, USER: lavaserver, PASSWORD: '$pw', HOST: localhost, PORT: 5432}}"
	export LAVA_SETTINGS_DEVICES_PATH=$LAB/devices
	export LAVA_SETTINGS_HEALTH_CHECKS_PATH=$LAB/health-checks
	export LAVA_SETTINGS_MEDIA_ROOT=$LAB/media/
}

lab_manage() { lava-server manage "$@"; }

# lab_bg NAME CMD...: a lab service in the background, its output in $LAB/NAME.log
lab_bg() {
	local name=$1; shift
	nice -n 10 "$@" >"$LAB/$name.log" 2>&1 &
	LAB_PIDS+=($!)
}

# lab_start NDEVICES: sets LAVA_URL, LAVA_TOKEN_FILE, LAB_WORKER
lab_start() {
	local ndev=$1 port i
	LAB=$T/lab
	mkdir -p "$LAB"/devices "$LAB"/health-checks "$LAB"/media "$LAB"/worker
	chmod 755 "$T" "$LAB"
	chown -R lavaserver:lavaserver "$LAB"/media
	if ! pg_lsclusters -h 2>/dev/null | grep -q ' online '; then
		pg_ctlcluster 15 main start || return 1
		LAB_PG_STARTED=1
	fi
	LAB_DB=kfarm_lava_$$
	# a copy of the package's migrated database: seconds, where migrate takes minutes
	runuser -u postgres -- createdb -O lavaserver -T lavaserver "$LAB_DB" || return 1
	lab_env || return 1
	port=$(free_port)
	LAVA_URL=http://127.0.0.1:$port
	lab_bg gunicorn gunicorn3 lava_server.wsgi -u lavaserver -g lavaserver \
		--bind "127.0.0.1:$port" --workers 2 --timeout 120
	LAB_GUNICORN=${LAB_PIDS[-1]}
	lab_bg scheduler lava-server manage lava-scheduler -u lavaserver -g lavaserver \
		--log-file "$LAB/scheduler.log"
	lab_manage users add kfarm --superuser --staff >/dev/null || return 1
	# the token is printed, never passed on a command line
	lab_manage tokens add --user kfarm --description kfarm-it >"$LAB/token" || return 1
	chmod 600 "$LAB/token"
	LAVA_TOKEN_FILE=$LAB/token
	LAB_WORKER=kfarm-w-$$
	lab_manage workers add "$LAB_WORKER" >/dev/null || return 1
	lab_manage shell -c "from lava_scheduler_app.models import Worker; print(Worker.objects.get(hostname='$LAB_WORKER').token)" \
		>"$LAB/worker-token" || return 1
	chmod 600 "$LAB/worker-token"
	lab_manage device-types add qemu >/dev/null 2>&1
	for i in $(seq "$ndev"); do
		printf "{%% extends 'qemu.jinja2' %%}\n{%% set no_kvm = True %%}\n{%% set netdevice = 'user' %%}\n" \
			>"$LAB/devices/kfarm-qemu-$i.jinja2"
		lab_manage devices add --device-type qemu --worker "$LAB_WORKER" "kfarm-qemu-$i" || return 1
		lab_manage devices update --health GOOD "kfarm-qemu-$i" || return 1
	done
	chown -R lavaserver:lavaserver "$LAB"/devices
	for i in $(seq 100); do
		curl -sf -o /dev/null "$LAVA_URL/api/v0.2/system/version/" && break
		sleep 0.5
	done
	lab_worker_start
}

# the worker, optionally under a wrapper (a mount namespace hiding a binary)
lab_worker_start() {
	lab_bg worker "$@" lava-worker --name "$LAB_WORKER" --url "$LAVA_URL/" \
		--token-file "$LAB/worker-token" --worker-dir "$LAB/worker" \
		--log-file "$LAB/worker.log" --level INFO
	LAB_WORKER_PID=${LAB_PIDS[-1]}
}

# every process below PID (lava-run, QEMU, gunicorn's workers)
lab_descendants() {
	local c
	for c in $(pgrep -P "$1"); do echo "$c"; lab_descendants "$c"; done
}

lab_worker_stop() {
	local kids; kids=$(lab_descendants "$LAB_WORKER_PID")
	kill "$LAB_WORKER_PID" 2>/dev/null
	[ -n "$kids" ] && kill -9 $kids 2>/dev/null
	wait "$LAB_WORKER_PID" 2>/dev/null
}

lab_gunicorn_stop() {
	kill "$LAB_GUNICORN" 2>/dev/null
	wait "$LAB_GUNICORN" 2>/dev/null
}

# job N's health as LAVA's API reports it
lab_job() { curl -sf -H "Authorization: Token $(cat "$LAVA_TOKEN_FILE")" "$LAVA_URL/api/v0.2/jobs/$1/"; }

lab_stop() {
	local p kids=
	for p in "${LAB_PIDS[@]}"; do kids+=" $(lab_descendants "$p")"; done
	for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	# lava-run and its QEMUs do not always follow the worker out
	[ -n "${kids// /}" ] && kill -9 $kids 2>/dev/null
	for p in "${LAB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# the killed grandchildren are not ours to wait for: give them 10s to go
	for _ in $(seq 20); do
		local alive=
		for p in $kids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.5
	done
	LAB_PIDS=()
	if [ -n "$LAB_DB" ]; then
		runuser -u postgres -- dropdb --if-exists --force "$LAB_DB" 2>/dev/null
		LAB_DB=
	fi
	[ -n "$LAB_PG_STARTED" ] && pg_ctlcluster 15 main stop
	LAB_PG_STARTED=
}
