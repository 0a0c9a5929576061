data {
  int<lower=0> T;
  vector[T] y;
}
parameters {
  real mu;
  real<lower=-1, upper=1> phi;
  real<lower=0> sigma;
  vector[T] h_std;
}
transformed parameters {
  vector[T] h;
  h[1] = mu + sigma * h_std[1] / sqrt(1 - phi^2);
  for (t in 2:T) h[t] = mu + phi * (h[t - 1] - mu) + sigma * h_std[t];
}
model {
  mu ~ cauchy(0, 10);
  phi ~ uniform(-1, 1);
  sigma ~ cauchy(0, 5);
  h_std ~ std_normal();
  y ~ normal(0, exp(h / 2));
}
