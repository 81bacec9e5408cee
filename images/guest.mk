# images/guest.mk - the guest suite (/init) and its initramfs.
# Included by the top Makefile, which defines KFARM_CACHE and ARCHES.
#
#   make initramfs                 every arch in ARCHES -> $(KFARM_CACHE)/initramfs/
#   make initramfs ARCH=alpha      one arch
#   make initramfs USER_TESTS=DIR  also pack DIR's programs under /kfarm/user/
#                                  (-> ARCH-user.json; ARCH.json is left alone)
#   make guest-host                host-native init in build/guest/host/init
#   make guest-check               run it (not as PID 1) with the default tests
#
# The cache key, packing and ARCH.json are images/mkinitramfs.sh's job.

GUEST_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GUEST_DIR    := $(GUEST_MK_DIR)/guest
GUEST_BUILD  ?= build/guest
GUEST_SRCS   := $(GUEST_DIR)/init.c $(GUEST_DIR)/kt.c $(GUEST_DIR)/prog.c $(sort $(wildcard $(GUEST_DIR)/tests/*.c))
GUEST_HDRS   := $(wildcard $(GUEST_DIR)/*.h)
GUEST_CFLAGS ?= -O2 -g -std=gnu11 -Wall -Wextra -Werror
GUEST_ARCHES  = $(if $(ARCH),$(ARCH),$(ARCHES))
KFARM_CACHE  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kfarm

.PHONY: initramfs guest-host guest-check

initramfs:
	@set -e; for a in $(GUEST_ARCHES); do \
		KFARM_CACHE='$(KFARM_CACHE)' $(GUEST_MK_DIR)/mkinitramfs.sh $$a $(USER_TESTS); \
	done

guest-host: $(GUEST_BUILD)/host/init

$(GUEST_BUILD)/host/init: $(GUEST_SRCS) $(GUEST_HDRS) $(GUEST_MK_DIR)/guest.mk
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -o $@.tmp $(GUEST_SRCS)
	@mv $@.tmp $@

guest-check: $(GUEST_BUILD)/host/init
	$(GUEST_BUILD)/host/init $(GUEST_ARGS)
