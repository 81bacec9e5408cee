# images/kernel.mk - kfarm's default test kernels (included by the top Makefile)
#
# Uses KFARM_CACHE, ARCHES and VERSIONS from the top Makefile.
#   make kernels                  build every ARCHES x VERSIONS kernel (cached:
#                                 a kernel or failure already recorded for the
#                                 same key is not rebuilt); prints a summary
#   make kernel-ARCH-VER          one kernel, e.g. make kernel-alpha-6.1
#   make kernels FORCE=1          rebuild / retry recorded failures
#   make kernels NOPATCH=1        build without images/patches/VER (separate
#                                 keys, defaults/ untouched): the real breakage
#   make kernels STRICT=1         exit 1 if any kernel failed (default: 0 once
#                                 every failure is recorded)
#   make kernels-config           configure + check options only, no build
#   make kernels-clean            remove the disposable build/ trees
#   make kernels-record [NOPATCH=1] [DB=PATH]
#                                 record the kernels make kernels built (or,
#                                 NOPATCH=1, its unpatched builds, failures
#                                 included) as build results in the history
#                                 database: kfarm build --source on Debian's
#                                 tarballs, the same keys, so cache hits
#   JOBS=N                        make -jN for the kernel build (default nproc)
# Needs: jq patch flock xz bc bison flex libelf-dev libssl-dev, the cross gccs,
# linux-source-VER (tarballs in /usr/src, or KFARM_LINUX_SOURCES).

KFARM_KERNEL_SH := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))/kernel.sh

kernel_flags = $(if $(filter 1,$(FORCE)),--force) $(if $(filter 1,$(NOPATCH)),--nopatch)
kernel_env = KFARM_CACHE='$(KFARM_CACHE)' STRICT='$(STRICT)' $(if $(JOBS),JOBS='$(JOBS)')

.PHONY: kernels kernels-config kernels-clean kernels-record

kernels:
	@$(kernel_env) $(KFARM_KERNEL_SH) $(kernel_flags) \
		$(foreach v,$(VERSIONS),$(foreach a,$(ARCHES),$(a):$(v)))

kernels-config:
	@$(kernel_env) $(KFARM_KERNEL_SH) --config-only \
		$(if $(filter 1,$(NOPATCH)),--nopatch) \
		$(foreach v,$(VERSIONS),$(foreach a,$(ARCHES),$(a):$(v)))

kernels-clean:
	rm -rf '$(KFARM_CACHE)/build'

# exit 1 of kfarm build (a kernel that does not build) is a result, recorded
kfarm_comma := ,
kernels-record: bin/kfarm
	@set -e; for v in $(VERSIONS); do \
		$(kernel_env) bin/kfarm build $(if $(DB),--db '$(DB)') \
			--source "$${KFARM_LINUX_SOURCES:-/usr/src}/linux-source-$$v.tar.xz" \
			$(if $(filter 1,$(NOPATCH)),,--patches images/patches/$$v) \
			--arch $(subst $() ,$(kfarm_comma),$(strip $(ARCHES))) || [ $$? = 1 ]; \
	done

# kernel-ARCH-VER for every known arch and version
define kfarm_kernel_rule
.PHONY: kernel-$(1)-$(2)
kernel-$(1)-$(2):
	@$$(kernel_env) $$(KFARM_KERNEL_SH) $$(kernel_flags) $(1):$(2)
endef
$(foreach a,$(ARCHES),$(foreach v,$(VERSIONS),$(eval $(call kfarm_kernel_rule,$(a),$(v)))))
