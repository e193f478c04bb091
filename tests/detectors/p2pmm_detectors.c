// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmm_detectors: provokes one report of each kernel detector the test harness relies on, so
 * that `make test SUITES=detectors` can show each report failing the run (scripts/report.py).
 * Never loaded by a normal run. Each file under /sys/kernel/debug/p2pmm_detectors/ provokes its
 * detector when "1" is written to it:
 *
 *   kasan      a read of a freed slab object (KASAN: slab-use-after-free)
 *   kmemleak   four objects whose only pointers are dropped (kmemleak: unreferenced object)
 *   lockdep    two mutexes taken in both orders, one after the other (possible circular locking)
 *   hung_task  the writer sleeps uninterruptibly for hung_task_secs (INFO: task ... blocked)
 *
 * Lock order: detector_a before detector_b in detector_lockdep_ab(); the reverse in
 * detector_lockdep_ba() is the inversion lockdep must report.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>

static unsigned int hung_task_secs = 12;
module_param(hung_task_secs, uint, 0444);
MODULE_PARM_DESC(hung_task_secs,
		 "How long the hung_task writer sleeps uninterruptibly (set hung_task_timeout_secs below it)");

static struct dentry *detectors_dir;
static DEFINE_MUTEX(detector_a);
static DEFINE_MUTEX(detector_b);

/*
 * KFENCE guards objects of at most a page: this one is larger, so the report is KASAN's and not
 * KFENCE's.
 */
static int detector_kasan(void)
{
	char *obj = kmalloc(PAGE_SIZE + 64, GFP_KERNEL);

	if (!obj)
		return -ENOMEM;
	kfree(obj);
	OPTIMIZER_HIDE_VAR(obj);
	pr_info("p2pmm_detectors: reading a freed object: %d\n", READ_ONCE(obj[0]));
	return 0;
}

/*
 * kmemleak scans whole task stacks, dead frames included: the allocator's frames below this one
 * keep copies of the last pointers it returned. Overwriting them leaves no reference behind.
 */
static noinline void detector_wipe_stack(void)
{
	char frames[1024];

	memzero_explicit(frames, sizeof(frames));
}

/*
 * Objects from the page allocator (kmalloc larger than its largest slab cache): a slab object can
 * stay referenced for a long time by a stale slot of the per-CPU sheaf it was taken from, which
 * kmemleak scans. Several, and the dead stack frames wiped, so that no stale pointer hides them.
 * kmemleak reports them after two scans once they are 5 s old.
 */
static noinline int detector_kmemleak(void)
{
	int i;

	for (i = 0; i < 4; i++) {
		void *leak = kzalloc(KMALLOC_MAX_CACHE_SIZE + PAGE_SIZE, GFP_KERNEL);

		if (!leak)
			return -ENOMEM;
		OPTIMIZER_HIDE_VAR(leak);
	}
	detector_wipe_stack();
	return 0;
}

static noinline void detector_lockdep_ab(void)
{
	mutex_lock(&detector_a);
	mutex_lock(&detector_b);
	mutex_unlock(&detector_b);
	mutex_unlock(&detector_a);
}

static noinline void detector_lockdep_ba(void)
{
	mutex_lock(&detector_b);
	mutex_lock(&detector_a);
	mutex_unlock(&detector_a);
	mutex_unlock(&detector_b);
}

static int detector_lockdep(void)
{
	detector_lockdep_ab();
	detector_lockdep_ba();
	return 0;
}

static int detector_hung_task(void)
{
	set_current_state(TASK_UNINTERRUPTIBLE);
	schedule_timeout(secs_to_jiffies(hung_task_secs));
	return 0;
}

struct detector {
	const char *name;
	int (*provoke)(void);
};

static const struct detector detectors[] = {
	{ "kasan", detector_kasan },
	{ "kmemleak", detector_kmemleak },
	{ "lockdep", detector_lockdep },
	{ "hung_task", detector_hung_task },
};

static ssize_t detector_write(struct file *file, const char __user *buf, size_t len, loff_t *ppos)
{
	const struct detector *d = file->private_data;
	bool go;
	int ret;

	ret = kstrtobool_from_user(buf, len, &go);
	if (ret)
		return ret;
	if (!go)
		return -EINVAL;
	pr_info("p2pmm_detectors: provoking %s\n", d->name);
	ret = d->provoke();
	return ret ? ret : len;
}

static const struct file_operations detector_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = detector_write,
	.llseek = noop_llseek,
};

static int __init detectors_init(void)
{
	int i;

	detectors_dir = debugfs_create_dir("p2pmm_detectors", NULL);
	for (i = 0; i < ARRAY_SIZE(detectors); i++)
		debugfs_create_file(detectors[i].name, 0200, detectors_dir, (void *)&detectors[i],
				    &detector_fops);
	return 0;
}

static void __exit detectors_exit(void)
{
	debugfs_remove_recursive(detectors_dir);
}

module_init(detectors_init);
module_exit(detectors_exit);
MODULE_DESCRIPTION("p2pmm test harness: provokes KASAN, kmemleak, lockdep and hung-task reports");
MODULE_LICENSE("GPL");
