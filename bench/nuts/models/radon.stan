data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> county;
  vector[N] floor;
  vector[J] u;
  vector[N] log_radon;
}
parameters {
  real mu_a;
  real g;
  real<lower=0> sigma_a;
  vector[J] a;
  real b;
  real<lower=0> sigma_y;
}
model {
  mu_a ~ normal(0, 10);
  g ~ normal(0, 1);
  sigma_a ~ normal(0, 1);
  a ~ normal(mu_a + g * u, sigma_a);
  b ~ normal(0, 1);
  sigma_y ~ exponential(1);
  log_radon ~ normal(a[county] + b * floor, sigma_y);
}
