// Elementwise f32 kernels of the hairtrigger CUDA backend, compiled at run
// time with NVRTC. Activation codes: 0 identity, 1 ReLU, 2 leaky ReLU (slope),
// 3 tanh, 4 GELU (exact, erf-based), 5 sigmoid; the formulas are those of
// `net::Activation` on the CPU.

// The logistic function without overflow (as `net::activation::logistic`).
__device__ float logistic(float z) {
    if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

__device__ float act_apply(int code, float slope, float z) {
    switch (code) {
        case 1: return z > 0.0f ? z : 0.0f;
        case 2: return z > 0.0f ? z : slope * z;
        case 3: return tanhf(z);
        case 4: return z * 0.5f * (1.0f + erff(z * 0.70710678118654752f));
        case 5: return logistic(z);
        default: return z;
    }
}

__device__ float act_derivative(int code, float slope, float z) {
    switch (code) {
        case 1: return z > 0.0f ? 1.0f : 0.0f;
        case 2: return z > 0.0f ? 1.0f : slope;
        case 3: { float t = tanhf(z); return 1.0f - t * t; }
        case 4: return 0.5f * (1.0f + erff(z * 0.70710678118654752f))
                       + z * 0.39894228040143268f * expf(-0.5f * z * z);
        case 5: { float s = logistic(z); return s * (1.0f - s); }
        default: return 1.0f;
    }
}

// Z <- Z + 1 b^T (row-major, rows of length m); H = sigma(Z) when h != 0.
extern "C" __global__ void bias_activate(float* z, const float* b, float* h,
                                         long long total, int m, int code,
                                         float slope, int activate) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        float v = z[i] + b[i % m];
        z[i] = v;
        if (activate) h[i] = act_apply(code, slope, v);
    }
}

// G <- G * sigma'(Z).
extern "C" __global__ void times_derivative(float* g, const float* z,
                                            long long total, int code,
                                            float slope) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) g[i] *= act_derivative(code, slope, z[i]);
}

// out[j] = sum_i G[i, j] (row-major n x m): the bias gradient.
extern "C" __global__ void column_sums(const float* g, float* out, int n, int m) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j < m) {
        float s = 0.0f;
        for (int i = 0; i < n; ++i) s += g[(long long)i * m + j];
        out[j] = s;
    }
}

__device__ float act_second(int code, float z) {
    switch (code) {
        case 3: { float t = tanhf(z); return -2.0f * t * (1.0f - t * t); }
        case 4: return 0.39894228040143268f * expf(-0.5f * z * z) * (2.0f - z * z);
        case 5: { float s = logistic(z); return s * (1.0f - s) * (1.0f - 2.0f * s); }
        default: return 0.0f;
    }
}

// The forward tangent of one layer: RZ <- RZ + HV + 1 vb^T, and when
// `activate`, RH = sigma'(Z) * RZ (row-major, rows of length m).
extern "C" __global__ void tangent_activate(float* rz, const float* hv,
                                            const float* vb, const float* z,
                                            float* rh, long long total, int m,
                                            int code, float slope,
                                            int activate) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        float r = rz[i] + hv[i] + vb[i % m];
        rz[i] = r;
        if (activate) rh[i] = r * act_derivative(code, slope, z[i]);
    }
}

// The backward tangent: OUT = (RGW + GV) * sigma'(Z) + (BACK * sigma''(Z)) * RZ.
extern "C" __global__ void second_order_backward(const float* rgw,
                                                 const float* gv,
                                                 const float* back,
                                                 const float* z,
                                                 const float* rz, float* out,
                                                 long long total, int code,
                                                 float slope) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) {
        float zv = z[i];
        out[i] = (rgw[i] + gv[i]) * act_derivative(code, slope, zv)
                 + (back[i] * act_second(code, zv)) * rz[i];
    }
}

// X <- a X + b Y (elementwise over n).
extern "C" __global__ void axpby(float* x, const float* y, float a, float b,
                                 long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = a * x[i] + b * y[i];
}

// One Adam step on n coordinates, the gradient scaled by `scale` (clipping):
// m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
// p <- p - lr (m / c1) / (sqrt(v / c2) + eps), c_i = 1 - b_i^t.
extern "C" __global__ void adam_step(float* p, float* m, float* v,
                                     const float* g, long long n, float scale,
                                     float lr, float b1, float b2, float c1,
                                     float c2, float eps) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float gi = scale * g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    }
}

// Sum of squares, deterministic: launched with SUM_BLOCKS blocks of
// SUM_THREADS threads, block b sums x[i]^2 (as double) over i = b*T + t +
// k*B*T in a fixed order and writes partial[b]; the host adds the partials in
// order. No atomics, so the result does not depend on scheduling.
#define SUM_THREADS 256
extern "C" __global__ void sum_squares(const float* x, long long n,
                                       double* partial) {
    __shared__ double acc[SUM_THREADS];
    long long stride = (long long)gridDim.x * blockDim.x;
    double s = 0.0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        double v = (double)x[i];
        s += v * v;
    }
    acc[threadIdx.x] = s;
    __syncthreads();
    for (int w = SUM_THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) acc[threadIdx.x] += acc[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = acc[0];
}
