/*
 * accel-qtest-x86_64.so for Debian 12's qemu-system-x86_64 (QEMU 7.2), which is built with the
 * qtest accelerator as a loadable module and then ships without that module. Without it
 * `-accel qtest` is refused, and with another accelerator the qtest server answers FAIL to
 * clock_step/clock_set and guest-clock timers (edu's DMA) never fire.
 *
 * The accelerator itself is small: two QOM types, "qtest-accel" (an AccelClass whose `allowed`
 * flag is the binary's `qtest_allowed`, which is what qtest_enabled() tests) and the abstract
 * "qtest-accel-ops" (an AccelOpsClass whose vCPU thread is the binary's dummy thread and whose
 * virtual clock is the qtest clock). Everything it points at is exported by the Debian binary,
 * so this file only registers the types. Nothing here models VT-d, PCI or the qtest protocol:
 * those stay QEMU's own code.
 *
 * Class layouts for QEMU 7.2 on an LP64 target, written as arrays of pointer-sized slots:
 *   ObjectClass   12 slots
 *   AccelClass    ObjectClass, then name, init_machine, setup_post, has_memory,
 *                 gdbstub_supported_sstep_flags, allowed, compat_props
 *   AccelOpsClass ObjectClass, then 17 function pointers; create_vcpu_thread is the 3rd,
 *                 get_virtual_clock the 12th
 *   TypeInfo      name, parent, instance_size, instance_align, instance_init,
 *                 instance_post_init, instance_finalize, abstract, class_size, class_init,
 *                 class_base_init, class_data, interfaces
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef QEMU_BUILD_STAMP
#error "define QEMU_BUILD_STAMP as the binary's qemu_stamp_* function name (build.sh does)"
#endif

/* Exported by qemu-system-x86_64 7.2. */
extern bool qtest_allowed;
extern void dummy_start_vcpu_thread(void *cpu);
extern int64_t qtest_get_virtual_clock(void);
extern void *type_register_static(const void *info);
extern void register_dso_module_init(void (*init)(void), int kind);

#define OBJECT_CLASS_SLOTS 12
#define ACCEL_NAME_SLOT (OBJECT_CLASS_SLOTS + 0)
#define ACCEL_INIT_MACHINE_SLOT (OBJECT_CLASS_SLOTS + 1)
#define ACCEL_ALLOWED_SLOT (OBJECT_CLASS_SLOTS + 5)
#define OPS_CREATE_VCPU_THREAD_SLOT (OBJECT_CLASS_SLOTS + 2)
#define OPS_GET_VIRTUAL_CLOCK_SLOT (OBJECT_CLASS_SLOTS + 11)
#define MODULE_INIT_QOM 3 /* position of MODULE_INIT_QOM in 7.2's module_init_type */

/* QEMU's TypeInfo, field for field. */
struct type_info {
    const char *name;
    const char *parent;
    size_t instance_size;
    size_t instance_align;
    void (*instance_init)(void *);
    void (*instance_post_init)(void *);
    void (*instance_finalize)(void *);
    bool abstract;
    size_t class_size;
    void (*class_init)(void *, void *);
    void (*class_base_init)(void *, void *);
    void *class_data;
    void *interfaces;
};

/* The loader refuses modules that do not define the running binary's stamp function. */
void QEMU_BUILD_STAMP(void);
void QEMU_BUILD_STAMP(void) {}
void qemu_module_dummy(void);
void qemu_module_dummy(void) {}

static int qtest_accel_init_machine(void *machine)
{
    (void)machine;
    return 0;
}

static void qtest_accel_class_init(void *class, void *data)
{
    void **slots = class;
    (void)data;
    slots[ACCEL_NAME_SLOT] = (void *)"QTest";
    slots[ACCEL_INIT_MACHINE_SLOT] = (void *)qtest_accel_init_machine;
    slots[ACCEL_ALLOWED_SLOT] = &qtest_allowed;
}

static void qtest_accel_ops_class_init(void *class, void *data)
{
    void **slots = class;
    (void)data;
    slots[OPS_CREATE_VCPU_THREAD_SLOT] = (void *)dummy_start_vcpu_thread;
    slots[OPS_GET_VIRTUAL_CLOCK_SLOT] = (void *)qtest_get_virtual_clock;
}

static const struct type_info accel_type = {
    .name = "qtest-accel",
    .parent = "accel",
    .class_init = qtest_accel_class_init,
};

static const struct type_info accel_ops_type = {
    .name = "qtest-accel-ops",
    .parent = "accel-ops",
    .abstract = true,
    .class_init = qtest_accel_ops_class_init,
};

static void register_qtest_accel_types(void)
{
    type_register_static(&accel_type);
    type_register_static(&accel_ops_type);
}

__attribute__((constructor)) static void qtest_accel_module_load(void)
{
    register_dso_module_init(register_qtest_accel_types, MODULE_INIT_QOM);
}
