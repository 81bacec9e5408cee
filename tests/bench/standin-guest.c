/* A stand-in for qemu-system-*, used only by the scheduler benchmark: it
 * accepts QEMU's argv, prints boot noise and a KTAP report on stdout like a
 * guest console would, then waits to be killed (as QEMU does after the last
 * result). "-append" may carry standin.mode=hang|panic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *append = "";
	int ntests = 10;

	for (int i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "-append"))
			append = argv[i + 1];
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		puts("QEMU emulator version 0.0 (kfarm stand-in guest)");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < 40; i++)
		printf("[    0.%06d] stand-in boot noise line %d: some driver probed\n", i * 997, i);
	if (strstr(append, "standin.mode=panic")) {
		puts("Kernel panic - not syncing: stand-in panic");
		return 0;
	}
	puts("KTAP version 1\n# kfarm-init: uname Linux 0.0-standin #1 standin");
	printf("1..%d\n", ntests);
	if (strstr(append, "standin.mode=hang"))
		for (;;)
			pause();
	for (int i = 1; i <= ntests; i++)
		printf("  KTAP version 1\n  1..2\n  ok 1 a\n  ok 2 b\nok %d t%d\n", i, i);
	if (strstr(append, "standin.mode=exit"))
		return 0;
	for (;;)
		pause();
}
