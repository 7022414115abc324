// Runs the CUDA kernels of kernels.cu on the CPU, one thread after another,
// so that the tests check the kernels and the host-side orchestration on
// machines without a GPU. Valid because no kernel shares memory between
// threads except through atomics (which are sequential here).

#define ZK_EMU 1

typedef unsigned long long u64;
typedef unsigned int u32;

struct Dim3 {
    u32 x;
};

static thread_local Dim3 blockIdx, blockDim, threadIdx;

#define DEV inline
#define DEV_CALL inline
#define KERNEL static void
#define TID (blockIdx.x * blockDim.x + threadIdx.x)

static inline u64 mul_hi(u64 a, u64 b) {
    return (u64)(((unsigned __int128)a * b) >> 64);
}

static inline u32 atomic_inc(u32 *p) {
    return (*p)++;
}

#include "kernels.cu"

template <class F> static void grid(u32 threads, u32 block, F f) {
    blockDim.x = block;
    u32 blocks = (threads + block - 1) / block;
    for (u32 b = 0; b < blocks; b++) {
        blockIdx.x = b;
        for (u32 t = 0; t < block; t++) {
            threadIdx.x = t;
            f();
        }
    }
}

// Kernel ids: the order of `Kernel` in src/device.rs.
extern "C" int zkinfer_emu_launch(u32 kernel, u32 threads, u32 block, const u64 *a, u32 nargs) {
#define P(T, i) ((T)(a[i]))
#define U(i) ((u32)(a[i]))
    static const u32 want[] = {2, 5, 6, 6, 6, 5, 4, 2, 2, 4, 5, 3, 3};
    if (kernel >= sizeof(want) / sizeof(want[0])) return -1;
    if (nargs != want[kernel]) return -2;
    switch (kernel) {
    case 0: grid(threads, block, [&] { fq_points_to_mont(P(u64 *, 0), U(1)); }); break;
    case 1: grid(threads, block, [&] { msm_count(P(const u64 *, 0), P(u32 *, 1), U(2), U(3), U(4)); }); break;
    case 2: grid(threads, block, [&] { msm_scatter(P(const u64 *, 0), P(u32 *, 1), P(u32 *, 2), U(3), U(4), U(5)); }); break;
    case 3: grid(threads, block, [&] { msm_sum_affine(P(const u64 *, 0), P(const u32 *, 1), P(const u32 *, 2), P(const u32 *, 3), P(u64 *, 4), U(5)); }); break;
    case 4: grid(threads, block, [&] { msm_sum_xyzz(P(const u64 *, 0), P(const u32 *, 1), P(const u32 *, 2), P(const u32 *, 3), P(u64 *, 4), U(5)); }); break;
    case 5: grid(threads, block, [&] { msm_bucket_reduce(P(const u64 *, 0), P(u64 *, 1), U(2), U(3), U(4)); }); break;
    case 6: grid(threads, block, [&] { msm_window_sum(P(const u64 *, 0), P(u64 *, 1), U(2), U(3)); }); break;
    case 7: grid(threads, block, [&] { fr_to_mont(P(u64 *, 0), U(1)); }); break;
    case 8: grid(threads, block, [&] { fr_from_mont(P(u64 *, 0), U(1)); }); break;
    case 9: grid(threads, block, [&] { ntt_bit_reverse(P(const u64 *, 0), P(u64 *, 1), U(2), U(3)); }); break;
    case 10: grid(threads, block, [&] { ntt_stage(P(u64 *, 0), P(const u64 *, 1), U(2), U(3), U(4)); }); break;
    case 11: grid(threads, block, [&] { fr_scale(P(u64 *, 0), P(const u64 *, 1), U(2)); }); break;
    case 12: grid(threads, block, [&] { fr_distribute_powers(P(u64 *, 0), P(const u64 *, 1), U(2)); }); break;
    }
    return 0;
#undef P
#undef U
}
