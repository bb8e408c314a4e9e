"""Training early-exit models: exit losses, exit weights, callbacks, E2CM."""

from keras_nachos.training.class_means_fitting import fit_class_means
from keras_nachos.training.exit_weights import ConstantExitWeights
from keras_nachos.training.exit_weights import ExitWeightSchedule
from keras_nachos.training.exit_weights import ExitWeightScheduler
from keras_nachos.training.exit_weights import SDNRamp
from keras_nachos.training.multi_exit_loss import MultiExitLoss
from keras_nachos.training.nachos_loss import NachosLoss
from keras_nachos.training.nachos_loss import cascade_exit_probabilities
from keras_nachos.training.nachos_loss import class_balanced_bce
from keras_nachos.training.nachos_loss import mac_budget_loss
from keras_nachos.training.support_set import SupportSetCallback
from keras_nachos.training.support_set import split_support_set
