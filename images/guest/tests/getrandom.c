/*
 * getrandom: returns the bytes asked for, not all zero, different on each
 * call, roughly balanced bits; GRND_NONBLOCK returns bytes or EAGAIN;
 * GRND_INSECURE works; invalid flags give EINVAL and a bad buffer EFAULT.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../kt.h"

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

static long raw_getrandom(void *buf, size_t len, unsigned int flags)
{
	return syscall(SYS_getrandom, buf, len, flags);
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void run(void)
{
	unsigned char a[64], b[64], big[4096];
	long r;
	double t0;
	int bits = 0;

	memset(a, 0, sizeof(a));
	errno = 0;
	r = raw_getrandom(a, sizeof(a), GRND_NONBLOCK);
	if (r < 0 && errno == ENOSYS)
		kt_skip_all("getrandom: ENOSYS");
	if (r < 0 && errno == EAGAIN) {
		kt_diag("GRND_NONBLOCK: EAGAIN, the crng is not ready yet");
		kt_pass("nonblock_bytes_or_eagain");
	} else {
		kt_check(r == (long)sizeof(a), "nonblock_bytes_or_eagain",
			 "returned %ld (%s)", r, kt_errname(errno));
	}

	t0 = kt_now();
	r = raw_getrandom(a, sizeof(a), 0);
	kt_diag("blocking getrandom took %.3f s", kt_now() - t0);
	kt_check(r == (long)sizeof(a), "blocking_returns_all", "returned %ld (%s)",
		 r, kt_errname(errno));
	r = raw_getrandom(b, sizeof(b), 0);
	kt_check(!all_zero(a, sizeof(a)) && r == (long)sizeof(b) &&
			 memcmp(a, b, sizeof(a)),
		 "not_zero_not_repeated", "zero %d, second call %ld, equal %d",
		 all_zero(a, sizeof(a)), r, !memcmp(a, b, sizeof(a)));

	r = raw_getrandom(big, sizeof(big), 0);
	for (size_t i = 0; r == (long)sizeof(big) && i < sizeof(big); i++)
		bits += __builtin_popcount(big[i]);
	/* 32768 bits: mean 16384, sd 90; 2000 is a wide margin */
	kt_check(r == (long)sizeof(big) && bits > 14384 && bits < 18384,
		 "4k_bits_balanced", "returned %ld, %d of 32768 bits set", r, bits);

	r = raw_getrandom(a, sizeof(a), GRND_INSECURE);
	if (r < 0 && errno == EINVAL)
		kt_skip("insecure_flag", "GRND_INSECURE: EINVAL (kernel < 5.6)");
	else
		kt_check(r == (long)sizeof(a), "insecure_flag", "returned %ld (%s)",
			 r, kt_errname(errno));

	r = raw_getrandom(a, 0, 0);
	kt_check(r == 0, "zero_length_returns_0", "returned %ld", r);

	KT_EXPECT_ERR("bad_flags_einval", raw_getrandom(a, sizeof(a), 0x40),
		      EINVAL);
	KT_EXPECT_ERR("insecure_and_random_einval",
		      raw_getrandom(a, sizeof(a), GRND_INSECURE | GRND_RANDOM),
		      EINVAL);
	KT_EXPECT_ERR("bad_buffer_efault", raw_getrandom((void *)16, 16, 0),
		      EFAULT);
}

KT_TEST(.name = "getrandom", .run = run, .timeout = 30,
	.desc = "getrandom bytes, GRND_NONBLOCK/INSECURE, EINVAL/EFAULT");
